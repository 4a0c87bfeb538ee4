/** What every page reaches: the session (and its API client) and the page's stream connections. */
import { createContext, useContext, useSyncExternalStore } from 'react';
import type { Session, SessionState } from './auth/session.js';
import type { StreamRegistry } from './streams/stream-registry.js';

export interface AppServices {
  session: Session;
  streams: StreamRegistry;
}

export const AppContext = createContext<AppServices | undefined>(undefined);

export function useServices(): AppServices {
  const services = useContext(AppContext);
  if (services === undefined) throw new Error('useServices outside <AppContext.Provider>');
  return services;
}

export function useSession(): SessionState {
  const { session } = useServices();
  return useSyncExternalStore(session.subscribe, session.getState);
}
