/**
 * Client routes on the History API. The dashboard server answers index.html for every path
 * without a file extension, so a deep link or a reload lands here and renders the right page.
 */
import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent, type ReactNode } from 'react';

const NAVIGATED = 'veloflux:navigated';

function subscribe(listener: () => void): () => void {
  addEventListener('popstate', listener);
  addEventListener(NAVIGATED, listener);
  return () => {
    removeEventListener('popstate', listener);
    removeEventListener(NAVIGATED, listener);
  };
}

const currentPath = (): string => location.pathname;

export function usePath(): string {
  return useSyncExternalStore(subscribe, currentPath);
}

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === location.pathname + location.search) return;
  if (options.replace === true) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  dispatchEvent(new Event(NAVIGATED));
}

type LinkProps = Omit<AnchorHTMLAttributes<HTMLAnchorElement>, 'href'> & { to: string; children: ReactNode };

/** A real link (middle-click and "open in new tab" work) that navigates in place on a plain click. */
export function Link({ to, children, onClick, ...rest }: LinkProps) {
  const path = usePath();
  const handle = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={handle} aria-current={path === to ? 'page' : undefined} {...rest}>
      {children}
    </a>
  );
}
