//! minijinja rendering of lab text, prompts and workload args with a session's values.
//! Undefined variables are errors, so a typo in a lab cannot reach a student as blank text.
use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::Value;

use super::Lab;

/// Everything a template can see: `seed.*`, `session.*`, `lab.*` (labs/FORMAT.md).
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    pub seed: BTreeMap<String, Value>,
    pub session: SessionVars,
    pub lab: LabVars,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionVars {
    pub seed: u64,
    pub data_dir: String,
    pub user: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LabVars {
    pub id: u32,
    pub title: String,
}

impl Context {
    /// A context with no seeded values yet (seed::values fills them).
    pub fn base(lab: &Lab, seed: u64, data_dir: &std::path::Path, user: &str) -> Context {
        Context {
            seed: BTreeMap::new(),
            session: SessionVars {
                seed,
                data_dir: data_dir.display().to_string(),
                user: user.to_string(),
            },
            lab: LabVars {
                id: lab.id,
                title: lab.title.clone(),
            },
        }
    }

    /// The full context of a lab for one seed: computes the seeded values.
    pub fn for_seed(
        lab: &Lab,
        seed: u64,
        data_dir: &std::path::Path,
        user: &str,
    ) -> anyhow::Result<Context> {
        let mut ctx = Context::base(lab, seed, data_dir, user);
        ctx.seed = super::seed::values(lab, seed, &ctx)?;
        Ok(ctx)
    }

    /// The context of a recorded session (its seeded values as recorded at start).
    pub fn for_session(lab: &Lab, session: &crate::store::SessionRecord) -> Context {
        let mut ctx = Context::base(lab, session.seed, &session.data_dir, &session.user);
        ctx.seed = session.vars.clone();
        ctx
    }

    /// Render one template string.
    pub fn render(&self, template: &str) -> Result<String, minijinja::Error> {
        env().render_str(template, self)
    }

    /// Render a part of a lab file that starts at `first_line`, naming file:line on error.
    pub fn render_at(
        &self,
        lab: &Lab,
        first_line: usize,
        what: &str,
        template: &str,
    ) -> anyhow::Result<String> {
        self.render(template).map_err(|e| {
            let line = first_line + e.line().unwrap_or(1).saturating_sub(1);
            anyhow::anyhow!(
                "{}:{}: {what}: {}",
                lab.source,
                line,
                e.detail().unwrap_or(&e.kind().to_string())
            )
        })
    }

    /// The lab text (hints removed), rendered.
    pub fn body(&self, lab: &Lab) -> anyhow::Result<String> {
        self.render_at(lab, lab.body_line, "lab text", &lab.body)
    }

    /// Hint `i` (0-based), rendered.
    pub fn hint(&self, lab: &Lab, i: usize) -> anyhow::Result<String> {
        self.render_at(
            lab,
            lab.body_line,
            &format!("hint {}", i + 1),
            &lab.hints[i],
        )
    }

    /// A workload's or prepare step's argv after the subcommand, rendered.
    pub fn args(&self, lab: &Lab, step: &super::Step) -> anyhow::Result<Vec<String>> {
        step.args
            .iter()
            .map(|a| self.render_at(lab, step.line, &format!("{} args", step.name), a))
            .collect()
    }

    /// The process name a workload runs under (kernel comm: at most 15 bytes).
    pub fn comm(&self, lab: &Lab, step: &super::Step) -> anyhow::Result<String> {
        let comm = match &step.comm {
            Some(c) => self.render_at(lab, step.line, &format!("{} comm", step.name), c)?,
            None => step.run.clone(),
        };
        if comm.is_empty() || comm.len() > 15 || comm.contains(['/', ' ', '\0']) {
            anyhow::bail!(
                "{}:{}: workload {} comm {comm:?}: 1-15 bytes, no '/' or spaces",
                lab.source,
                step.line,
                step.name
            );
        }
        Ok(comm)
    }
}

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Lab text is markdown shown in a terminal, not HTML.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_keep_trailing_newline(true);
    env
}
