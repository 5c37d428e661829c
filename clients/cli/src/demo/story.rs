//! How the demo prints its steps: numbered text lines, or one JSON
//! object per step with `--json`.

use serde_json::json;

use crate::flows::Progress;

/// Prints the steps: text lines or one JSON object per step.
pub(super) struct Story {
    pub(super) json: bool,
    pub(super) n: usize,
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
            outln!("{}", serde_json::to_string(&obj)?);
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

    pub(super) fn progress(&self) -> Progress {
        if self.json {
            Progress::hidden()
        } else {
            Progress::for_stderr()
        }
    }
}
