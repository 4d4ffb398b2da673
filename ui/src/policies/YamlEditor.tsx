// A CodeMirror 6 YAML editor with validation messages shown at their lines.
import { useEffect, useRef } from "react";
import { EditorState, Compartment, Facet, RangeSetBuilder } from "@codemirror/state";
import {
  Decoration,
  ViewPlugin,
  type DecorationSet,
  type ViewUpdate,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
  drawSelection,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { defaultHighlightStyle, indentOnInput, syntaxHighlighting, bracketMatching } from "@codemirror/language";
import { yaml } from "@codemirror/lang-yaml";
import { lintGutter, setDiagnostics, type Diagnostic } from "@codemirror/lint";

/** Lines (1-based) of `text` that are not in `base`, by a longest-common-subsequence of lines. */
export function changedLines(base: string, text: string): Set<number> {
  const a = base.split("\n");
  const b = text.split("\n");
  // Suffix LCS table; the texts are single policies, so n·m stays small.
  const n = a.length;
  const m = b.length;
  const t: Uint16Array[] = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      t[i][j] = a[i] === b[j] ? t[i + 1][j + 1] + 1 : Math.max(t[i + 1][j], t[i][j + 1]);
    }
  }
  const changed = new Set<number>();
  let i = 0;
  let j = 0;
  while (j < m) {
    if (i < n && a[i] === b[j]) {
      i++;
      j++;
    } else if (i < n && t[i + 1][j] >= t[i][j + 1]) {
      i++;
    } else {
      changed.add(j + 1);
      j++;
    }
  }
  return changed;
}

const baselineFacet = Facet.define<string | null, string | null>({ combine: (v) => v[0] ?? null });
const changedLine = Decoration.line({ class: "cm-changed-line" });

/** Tints the lines that differ from the saved policy, so an edit is visible at a glance. */
const changedLinesPlugin = ViewPlugin.fromClass(
  class {
    decorations: DecorationSet;
    constructor(view: EditorView) {
      this.decorations = this.build(view);
    }
    update(u: ViewUpdate) {
      if (u.docChanged || u.startState.facet(baselineFacet) !== u.state.facet(baselineFacet)) {
        this.decorations = this.build(u.view);
      }
    }
    build(view: EditorView): DecorationSet {
      const base = view.state.facet(baselineFacet);
      const builder = new RangeSetBuilder<Decoration>();
      if (base === null) return builder.finish();
      const doc = view.state.doc;
      for (const n of [...changedLines(base, doc.toString())].sort((x, y) => x - y)) {
        if (n <= doc.lines) builder.add(doc.line(n).from, doc.line(n).from, changedLine);
      }
      return builder.finish();
    }
  },
  { decorations: (v) => v.decorations },
);

export interface LineMessage {
  line: number;
  column?: number | null;
  message: string;
  severity?: "error" | "warning";
}

interface Props {
  value: string;
  onChange?: (text: string) => void;
  readOnly?: boolean;
  messages?: LineMessage[];
  minHeight?: string;
  label?: string;
  /** The saved text: lines that differ from it are tinted. */
  baseline?: string | null;
}

const theme = EditorView.theme({
  "&": { fontSize: "12.5px", backgroundColor: "#fbfcfe", height: "100%" },
  ".cm-scroller": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace", lineHeight: "1.55" },
  ".cm-gutters": { backgroundColor: "#f2f5f9", color: "#5a6375", borderRight: "1px solid #e3e8ef" },
  ".cm-activeLine": { backgroundColor: "#eef4ff80" },
  ".cm-activeLineGutter": { backgroundColor: "#e6eefc" },
  ".cm-changed-line": { backgroundColor: "#e6f6ec", boxShadow: "inset 3px 0 0 #13893f" },
  "&.cm-focused": { outline: "none" },
});

function toDiagnostics(state: EditorState, messages: LineMessage[]): Diagnostic[] {
  const doc = state.doc;
  return messages
    .filter((m) => m.line >= 1)
    .map((m) => {
      const line = doc.line(Math.min(m.line, doc.lines));
      const col = m.column && m.column > 0 ? Math.min(m.column - 1, line.length) : 0;
      // Underline from the column to the end of the line (at least one character).
      const from = line.from + col;
      const to = Math.max(line.to, from + 1 > doc.length ? from : from + 1);
      return { from, to: Math.min(to, doc.length), severity: m.severity ?? "error", message: m.message };
    });
}

export function YamlEditor({ value, onChange, readOnly = false, messages = [], minHeight = "320px", label, baseline = null }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  const readOnlyConf = useRef(new Compartment());
  const baselineConf = useRef(new Compartment());

  useEffect(() => {
    const state = EditorState.create({
      doc: value,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightActiveLine(),
        drawSelection(),
        history(),
        indentOnInput(),
        bracketMatching(),
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        yaml(),
        syntaxHighlighting(defaultHighlightStyle),
        lintGutter(),
        baselineConf.current.of(baselineFacet.of(baseline)),
        changedLinesPlugin,
        theme,
        EditorView.lineWrapping,
        EditorView.theme({ ".cm-content, .cm-gutter": { minHeight } }),
        readOnlyConf.current.of([EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)]),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) onChangeRef.current?.(u.state.doc.toString());
        }),
        // A read-only editor is still read by keyboard: its text takes the focus and scrolls.
        EditorView.contentAttributes.of({ "aria-label": label ?? "Policy YAML", tabindex: "0" }),
      ],
    });
    view.current = new EditorView({ state, parent: host.current! });
    return () => {
      view.current?.destroy();
      view.current = null;
    };
    // The editor is created once; later props are applied by the effects below.
  }, []);

  // Text changed outside the editor (the form, a reload): replace the document.
  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const current = v.state.doc.toString();
    if (current !== value) v.dispatch({ changes: { from: 0, to: current.length, insert: value } });
  }, [value]);

  useEffect(() => {
    view.current?.dispatch({ effects: baselineConf.current.reconfigure(baselineFacet.of(baseline)) });
  }, [baseline]);

  useEffect(() => {
    view.current?.dispatch({
      effects: readOnlyConf.current.reconfigure([
        EditorState.readOnly.of(readOnly),
        EditorView.editable.of(!readOnly),
      ]),
    });
  }, [readOnly]);

  useEffect(() => {
    const v = view.current;
    if (!v) return;
    v.dispatch(setDiagnostics(v.state, toDiagnostics(v.state, messages)));
  }, [messages, value]);

  return <div className="pl-yaml" ref={host} data-testid="yaml-editor" />;
}
