//! Errors that point at the scenario file, the entry and the field at fault.

use flowlens_manifests::LoadErrors;
use std::fmt;

/// One problem in a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The scenario file (`scenarios/fme/scenario.yaml`), or a generated scenario's name.
    pub file: String,
    /// One-based line, when known.
    pub line: Option<usize>,
    /// Where in the file, e.g. `traffic[3].to` or `steps[0].apply[1]`; empty for the whole file.
    pub field: String,
    pub message: String,
}

impl ScenarioError {
    pub(crate) fn new(file: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        ScenarioError {
            file: file.to_owned(),
            line: None,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ScenarioError {
    /// `scenarios/fme/scenario.yaml: line 12: traffic[3].to: no workload, pod, service …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ": line {line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// Everything wrong with a scenario, not just the first problem.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScenarioErrors(pub Vec<ScenarioError>);

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioErrors {}

/// Anything that can go wrong loading a scenario or running one of its steps.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scenario file is malformed or refers to things that do not exist.
    #[error("{0}")]
    Scenario(ScenarioErrors),
    /// A manifest the scenario loads is malformed (each error names its file).
    #[error("{0}")]
    Manifests(LoadErrors),
    #[error("no built-in scenario named {name:?}; available: {available}")]
    UnknownScenario { name: String, available: String },
    #[error(
        "cannot find the scenarios directory: set FLOWLENS_SCENARIOS, or run from a directory \
         that has ./scenarios"
    )]
    NoScenariosDir,
    #[error("scenario {scenario} has no step named {step:?}; its steps are: {available}")]
    UnknownStep {
        scenario: String,
        step: String,
        available: String,
    },
    #[error("step {step:?} of scenario {scenario} has already been applied")]
    StepAlreadyApplied { scenario: String, step: String },
    #[error("invalid scale parameters: {0}")]
    ScaleParams(String),
}

impl From<ScenarioErrors> for Error {
    fn from(e: ScenarioErrors) -> Self {
        Error::Scenario(e)
    }
}

impl From<LoadErrors> for Error {
    fn from(e: LoadErrors) -> Self {
        Error::Manifests(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
