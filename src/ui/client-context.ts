import { createContext, useContext } from 'react';
import type { PlaygroundClient } from './trainer-client';

export const ClientContext = createContext<PlaygroundClient | null>(null);

/** The app's one trainer client (provided by App). */
export function useClient(): PlaygroundClient {
  const client = useContext(ClientContext);
  if (!client) throw new Error('useClient() needs a ClientContext provider above it.');
  return client;
}
