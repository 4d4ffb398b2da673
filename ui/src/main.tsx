import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { loginFromFragment } from "./login";
import "./styles/index.css";

void loginFromFragment().then(() =>
  createRoot(document.getElementById("root")!).render(
    <StrictMode>
      <App />
    </StrictMode>,
  ),
);
