//! A scenario: manifests, a traffic model and steps, loaded and checked, with the state of
//! which steps have been applied.

use crate::compile::{CompiledTraffic, compile};
use crate::error::{Error, Result, ScenarioError, ScenarioErrors};
use crate::files::{DirFiles, Files, MemFiles};
use crate::spec::{DeleteRef, ScenarioSpec, StepSpec, TrafficSpec, parse_scenario};
use flowlens_manifests::{
    LoadErrors, LoadOptions, Resource, ResourceBody, build_inventory, parse_resources,
};
use flowlens_model::Inventory;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

/// The scenario file every scenario directory has.
pub const SCENARIO_FILE: &str = "scenario.yaml";

/// A loaded scenario and the steps applied to it so far.
#[derive(Clone, Debug)]
pub struct Scenario {
    spec: ScenarioSpec,
    /// How errors name `scenario.yaml` (or the generated scenario).
    file: String,
    /// Manifest resources; empty for scenarios built in code, whose inventory is given.
    base: Vec<Resource>,
    step_resources: Vec<Vec<Resource>>,
    applied: Vec<usize>,
    inventory: Arc<Inventory>,
    pub(crate) traffic: Arc<CompiledTraffic>,
    load_options: LoadOptions,
    warnings: Vec<String>,
}

impl Scenario {
    /// Loads `dir/scenario.yaml` and the manifests it names, and checks that every traffic
    /// entry (and every step's) resolves.
    pub fn load(dir: impl AsRef<Path>) -> Result<Scenario> {
        Scenario::load_from(&DirFiles {
            root: dir.as_ref().to_path_buf(),
        })
    }

    /// The same from in-memory files: `(path relative to the scenario root, text)` pairs
    /// that include `scenario.yaml`. `label` prefixes file names in errors.
    pub fn from_files(
        label: &str,
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Scenario> {
        Scenario::load_from(&MemFiles::new(label, files))
    }

    /// A scenario built in code from an inventory and traffic entries (no manifests, no
    /// steps), such as `scale`.
    pub fn from_parts(
        name: &str,
        description: &str,
        inventory: Inventory,
        traffic: Vec<TrafficSpec>,
        hosts: BTreeMap<String, Vec<IpAddr>>,
    ) -> Result<Scenario> {
        let spec = ScenarioSpec {
            name: name.to_owned(),
            description: description.to_owned(),
            manifests: Vec::new(),
            hosts,
            traffic,
            steps: Vec::new(),
        };
        let specs: Vec<&TrafficSpec> = spec.traffic.iter().collect();
        let compiled = compile(&specs, &inventory, &spec.hosts, true)?;
        Ok(Scenario {
            file: name.to_owned(),
            spec,
            base: Vec::new(),
            step_resources: Vec::new(),
            applied: Vec::new(),
            inventory: Arc::new(inventory),
            traffic: Arc::new(compiled),
            load_options: LoadOptions::default(),
            warnings: Vec::new(),
        })
    }

    fn load_from(files: &dyn Files) -> Result<Scenario> {
        let file = files.display(SCENARIO_FILE);
        let text = files
            .read(SCENARIO_FILE)
            .map_err(|e| ScenarioErrors(vec![ScenarioError::new(&file, "", e)]))?;
        let spec = parse_scenario(&text, &file)?;
        let opts = LoadOptions::default();

        let mut errors = Vec::new();
        let mut manifest_errors = Vec::new();
        let mut warnings = Vec::new();
        let mut read = |paths: &[String], field: &str, errors: &mut Vec<ScenarioError>| {
            let mut resources = Vec::new();
            for (i, rel) in paths.iter().enumerate() {
                let names = match files.expand(rel) {
                    Ok(names) => names,
                    Err(e) => {
                        errors.push(ScenarioError::new(&file, format!("{field}[{i}]"), e));
                        continue;
                    }
                };
                for name in names {
                    let shown = files.display(&name);
                    match files.read(&name) {
                        Ok(text) => {
                            let parsed = parse_resources(&text, &shown, &opts);
                            resources.extend(parsed.resources);
                            manifest_errors.extend(parsed.errors);
                            warnings.extend(parsed.report.warnings);
                        }
                        Err(e) => {
                            errors.push(ScenarioError::new(&file, format!("{field}[{i}]"), e))
                        }
                    }
                }
            }
            resources
        };
        let base = read(&spec.manifests, "manifests", &mut errors);
        let step_resources: Vec<Vec<Resource>> = spec
            .steps
            .iter()
            .map(|s| read(&s.apply, &format!("{}.apply", s.origin.field), &mut errors))
            .collect();
        if !manifest_errors.is_empty() {
            return Err(Error::Manifests(LoadErrors(manifest_errors)));
        }
        if !errors.is_empty() {
            return Err(ScenarioErrors(errors).into());
        }

        let mut scenario = Scenario {
            file,
            spec,
            base,
            step_resources,
            applied: Vec::new(),
            inventory: Arc::new(Inventory::new()),
            traffic: Arc::default(),
            load_options: opts,
            warnings,
        };
        scenario.check_deletes()?;
        let (inventory, build_warnings) = scenario.build(&[])?;
        scenario.warnings.extend(build_warnings);
        let base_traffic: Vec<&TrafficSpec> = scenario.spec.traffic.iter().collect();
        let compiled = compile(&base_traffic, &inventory, &scenario.spec.hosts, true)?;
        scenario.check_steps()?;
        scenario.inventory = Arc::new(inventory);
        scenario.traffic = Arc::new(compiled);
        Ok(scenario)
    }

    /// Every `delete` must name something the scenario defines somewhere.
    fn check_deletes(&self) -> Result<()> {
        let mut errors = Vec::new();
        let everything = || self.base.iter().chain(self.step_resources.iter().flatten());
        for step in &self.spec.steps {
            for (i, d) in step.delete.iter().enumerate() {
                if !everything().any(|r| deletes(d, r)) {
                    errors.push(step.origin.error(
                        &format!("delete[{i}]"),
                        format!(
                            "no {} named {} in the scenario's manifests",
                            d.kind,
                            target_name(d)
                        ),
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ScenarioErrors(errors).into())
        }
    }

    /// Each step's own traffic must resolve once that step is applied (on its own, on top of
    /// the base manifests).
    fn check_steps(&self) -> Result<()> {
        let mut errors = Vec::new();
        for (i, step) in self.spec.steps.iter().enumerate() {
            if step.traffic.is_empty() {
                continue;
            }
            let (inventory, _) = self.build(&[i])?;
            let specs: Vec<&TrafficSpec> = step.traffic.iter().collect();
            if let Err(e) = compile(&specs, &inventory, &self.spec.hosts, true) {
                errors.extend(e.0);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ScenarioErrors(errors).into())
        }
    }

    /// The inventory after applying `applied` (step indices, in order) to the base.
    fn build(&self, applied: &[usize]) -> Result<(Inventory, Vec<String>)> {
        let mut resources = self.base.clone();
        for &i in applied {
            let step = &self.spec.steps[i];
            resources.retain(|r| !step.delete.iter().any(|d| deletes(d, r)));
            resources.extend(self.step_resources[i].iter().cloned());
        }
        let built = build_inventory(resources, &self.load_options)?;
        Ok((built.inventory, built.warnings))
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn description(&self) -> &str {
        &self.spec.description
    }

    /// The scenario file as errors name it.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The inventory in the current state (after the steps applied so far). Feed it to
    /// `flowlens_policy::Engine::new`.
    pub fn inventory(&self) -> &Arc<Inventory> {
        &self.inventory
    }

    pub fn steps(&self) -> &[StepSpec] {
        &self.spec.steps
    }

    pub fn step(&self, name: &str) -> Option<&StepSpec> {
        self.spec.steps.iter().find(|s| s.name == name)
    }

    /// Names of the steps applied so far, in order.
    pub fn applied_steps(&self) -> Vec<&str> {
        self.applied
            .iter()
            .map(|&i| self.spec.steps[i].name.as_str())
            .collect()
    }

    pub fn is_applied(&self, name: &str) -> bool {
        self.applied_steps().contains(&name)
    }

    /// The traffic entries currently running: the base entries and those of applied steps,
    /// less the ones a step stopped.
    pub fn traffic(&self) -> Vec<&TrafficSpec> {
        let stopped: Vec<&str> = self
            .applied
            .iter()
            .flat_map(|&i| self.spec.steps[i].stop.iter().map(String::as_str))
            .collect();
        let running = |t: &&TrafficSpec| t.name.as_deref().is_none_or(|n| !stopped.contains(&n));
        self.spec
            .traffic
            .iter()
            .chain(
                self.applied
                    .iter()
                    .flat_map(|&i| self.spec.steps[i].traffic.iter()),
            )
            .filter(running)
            .collect()
    }

    /// The domain names the scenario maps to addresses itself.
    pub fn hosts(&self) -> &BTreeMap<String, Vec<IpAddr>> {
        &self.spec.hosts
    }

    /// Warnings from loading the manifests and from the steps applied so far (replaced
    /// resources, traffic stopped because its workload was deleted, …).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Applies a step: its manifests are applied (replacing resources of the same kind,
    /// namespace and name), its deletes removed, its traffic started and its `stop` entries
    /// stopped. Returns the new inventory; rebuild the policy engine from it and hand the
    /// scenario to [`crate::Generator::set_scenario`].
    pub fn apply_step(&mut self, name: &str) -> Result<Arc<Inventory>> {
        let Some(i) = self.spec.steps.iter().position(|s| s.name == name) else {
            return Err(Error::UnknownStep {
                scenario: self.spec.name.clone(),
                step: name.to_owned(),
                available: self
                    .spec
                    .steps
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        if self.applied.contains(&i) {
            return Err(Error::StepAlreadyApplied {
                scenario: self.spec.name.clone(),
                step: name.to_owned(),
            });
        }
        let mut applied = self.applied.clone();
        applied.push(i);
        let (inventory, warnings) = self.build(&applied)?;
        self.applied = applied;
        let specs = self.traffic();
        let compiled = compile(&specs, &inventory, &self.spec.hosts, false)?;
        self.warnings.extend(warnings);
        self.warnings.extend(compiled.warnings.iter().cloned());
        self.inventory = Arc::new(inventory);
        self.traffic = Arc::new(compiled);
        Ok(self.inventory.clone())
    }
}

fn target_name(d: &DeleteRef) -> String {
    match &d.namespace {
        Some(ns) => format!("{ns}/{}", d.name),
        None => d.name.clone(),
    }
}

/// Whether a `delete` names this resource. Kinds compare as written in manifests, ignoring
/// case; a policy may be named with or without its `<tier>.` prefix.
fn deletes(d: &DeleteRef, r: &Resource) -> bool {
    if !d.kind.eq_ignore_ascii_case(&r.kind) {
        return false;
    }
    let (_, namespace, name) = r.identity();
    if namespace != d.namespace {
        return false;
    }
    match &r.body {
        ResourceBody::Policy(p) => name == d.name || p.policy.unprefixed_name() == d.name,
        _ => name == d.name,
    }
}
