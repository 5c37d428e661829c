//! How the demo prints its steps: numbered text lines, one JSON object
//! per step as it happens (`--json-lines`), or, with `--json`, one
//! document `{"steps": [...]}` at the end.

use serde_json::json;

use crate::flows::Progress;

/// Prints the steps: text lines or one JSON object per step.
pub(super) struct Story {
    /// Any JSON (`--json` or `--json-lines`).
    pub(super) json: bool,
    /// `--json-lines`: each step's object printed as it happens.
    pub(super) lines: bool,
    pub(super) n: usize,
    /// `--json`: the steps so far, printed by [`Story::finish`].
    pub(super) steps: Vec<serde_json::Value>,
}

impl Story {
    pub(super) fn step(
        &mut self,
        name: &str,
        lines: &[String],
        data: serde_json::Value,
    ) -> anyhow::Result<()> {
        self.n += 1;
        if self.json {
            let mut obj = serde_json::Map::new();
            obj.insert("step".to_owned(), json!(name));
            if let serde_json::Value::Object(fields) = data {
                obj.extend(fields);
            }
            if self.lines {
                outln!("{}", serde_json::to_string(&obj)?);
            } else {
                self.steps.push(serde_json::Value::Object(obj));
            }
        } else {
            for (i, line) in lines.iter().enumerate() {
                if i == 0 {
                    outln!("{:>2}. {line}", self.n);
                } else {
                    outln!("    {line}");
                }
            }
        }
        Ok(())
    }

    /// With `--json`, prints the one document of every step (also after
    /// a failed step, so what happened is still readable).
    pub(super) fn finish(&mut self) -> anyhow::Result<()> {
        if self.json && !self.lines {
            let steps = std::mem::take(&mut self.steps);
            outln!("{}", serde_json::to_string(&json!({ "steps": steps }))?);
        }
        Ok(())
    }

    pub(super) fn progress(&self) -> Progress {
        if self.json {
            Progress::hidden()
        } else {
            Progress::for_stderr()
        }
    }
}
