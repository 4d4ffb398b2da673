// A CodeMirror 6 YAML editor with validation messages shown at their lines.
import { useEffect, useRef } from "react";
import { EditorState, Compartment } from "@codemirror/state";
import {
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
}

const theme = EditorView.theme({
  "&": { fontSize: "12.5px", backgroundColor: "#fbfcfe", height: "100%" },
  ".cm-scroller": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace", lineHeight: "1.55" },
  ".cm-gutters": { backgroundColor: "#f2f5f9", color: "#8a97a8", borderRight: "1px solid #e3e8ef" },
  ".cm-activeLine": { backgroundColor: "#eef4ff80" },
  ".cm-activeLineGutter": { backgroundColor: "#e6eefc" },
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

export function YamlEditor({ value, onChange, readOnly = false, messages = [], minHeight = "320px", label }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  const readOnlyConf = useRef(new Compartment());

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
        theme,
        EditorView.lineWrapping,
        EditorView.theme({ ".cm-content, .cm-gutter": { minHeight } }),
        readOnlyConf.current.of([EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)]),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) onChangeRef.current?.(u.state.doc.toString());
        }),
        EditorView.contentAttributes.of({ "aria-label": label ?? "Policy YAML" }),
      ],
    });
    view.current = new EditorView({ state, parent: host.current! });
    return () => {
      view.current?.destroy();
      view.current = null;
    };
    // The editor is created once; later props are applied by the effects below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // Text changed outside the editor (the form, a reload): replace the document.
  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const current = v.state.doc.toString();
    if (current !== value) v.dispatch({ changes: { from: 0, to: current.length, insert: value } });
  }, [value]);

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
