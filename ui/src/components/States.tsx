// Loading, error and empty states, so every view says what is going on instead of going blank.
import type { ReactNode } from "react";
import { ApiError } from "../api";
import { Icon } from "./Icon";

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <div className="state state-loading" role="status">
      <span className="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

export function ErrorState({ error, onRetry }: { error: Error; onRetry?: () => void }) {
  // A refused question is the user's to fix; anything else is the server's trouble.
  const refused = error instanceof ApiError && error.status >= 400 && error.status < 500;
  return (
    <div className="state state-error" role="alert">
      <strong>{refused ? "The query needs a change" : "Something went wrong"}</strong>
      <span>{error.message}</span>
      {onRetry && !refused && (
        <button type="button" className="btn" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="state state-empty">
      <strong>{title}</strong>
      {children && <span>{children}</span>}
    </div>
  );
}

/** A problem above content that is still shown (a failed action, a refresh that failed). */
export function ErrorBanner({ error, onRetry }: { error: Error | string; onRetry?: () => void }) {
  return (
    <div className="banner banner-error" role="alert">
      <Icon name="alert" />
      <span>{typeof error === "string" ? error : error.message}</span>
      {onRetry && (
        <button type="button" className="btn btn-small" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}
