/** Entry: one session and one set of stream connections for the page, then the app. */
import { createRoot } from 'react-dom/client';
import { App } from './app.js';
import { AppContext } from './app-context.js';
import { Session } from './auth/session.js';
import { StreamRegistry } from './streams/stream-registry.js';
import './styles.css';

const session = new Session();
const streams = new StreamRegistry(session);
void session.restore();

createRoot(document.getElementById('root')!).render(
  <AppContext.Provider value={{ session, streams }}>
    <App />
  </AppContext.Provider>,
);
