// A panel docked on the right of a view, for details of a selection and view options.
import type { ReactNode } from "react";

export function SidePanel({
  title,
  subtitle,
  onClose,
  children,
  className = "",
  testId,
}: {
  title: ReactNode;
  subtitle?: ReactNode;
  onClose?: () => void;
  children: ReactNode;
  className?: string;
  testId?: string;
}) {
  return (
    <aside className={`side-panel ${className}`} data-testid={testId}>
      <header className="side-panel-head">
        <div>
          <h2>{title}</h2>
          {subtitle && <div className="side-panel-sub">{subtitle}</div>}
        </div>
        {onClose && (
          <button type="button" className="icon-btn" onClick={onClose} aria-label="Close panel">
            ×
          </button>
        )}
      </header>
      <div className="side-panel-body">{children}</div>
    </aside>
  );
}

/** A titled block inside a side panel. */
export function PanelSection({ title, children, aside }: { title: ReactNode; children: ReactNode; aside?: ReactNode }) {
  return (
    <section className="panel-section">
      <h3>
        <span>{title}</span>
        {aside}
      </h3>
      {children}
    </section>
  );
}

/** Label/value pairs. */
export function Stats({ items }: { items: [ReactNode, ReactNode][] }) {
  return (
    <dl className="stats">
      {items.map(([k, v], i) => (
        <div key={i}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}
