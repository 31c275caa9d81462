//! One function of template.yaml as Lambda configures it: its `LoggingConfig` and environment,
//! evaluated by the template tests' evaluator.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use super::LoggingConfig;

/// One function of template.yaml as Lambda configures it for given parameter values.
#[derive(Debug, Clone)]
pub struct TemplateFunction {
    pub logical_id: String,
    pub logging: LoggingConfig,
    /// `Environment.Variables`, evaluated.
    pub variables: Vec<(String, String)>,
}

impl TemplateFunction {
    /// Reads `logical_id` (`CustomResourceFunction`, `OrgEventsFunction`) from template.yaml
    /// with these parameter values (the others at their defaults), through
    /// `tests/template/function_config.py` (the template tests' evaluator of intrinsic
    /// functions). A value the parameter does not allow is an error naming it.
    pub fn load(logical_id: &str, params: &[(&str, &str)]) -> Result<Self, String> {
        static CACHE: OnceLock<Mutex<HashMap<String, TemplateFunction>>> = OnceLock::new();
        let key = format!("{logical_id} {params:?}");
        let cache = CACHE.get_or_init(Default::default);
        if let Some(f) = cache.lock().unwrap().get(&key) {
            return Ok(f.clone());
        }
        let root = crate::repo_root();
        let python = root.join(".venv/emulator/bin/python");
        if !python.exists() {
            return Err(format!(
                "{} is missing: run tests/emulator/setup (scripts/test does)",
                python.display()
            ));
        }
        let out = std::process::Command::new(python)
            .arg(root.join("tests/template/function_config.py"))
            .arg(logical_id)
            .args(params.iter().map(|(k, v)| format!("{k}={v}")))
            .output()
            .map_err(|e| format!("running tests/template/function_config.py: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        let v: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("function_config.py printed no JSON: {e}"))?;
        let logging = LoggingConfig::from_template(&v["LoggingConfig"])
            .map_err(|e| format!("{logical_id}: {e}"))?;
        let variables = v["Variables"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let f = TemplateFunction {
            logical_id: logical_id.to_owned(),
            logging,
            variables,
        };
        cache.lock().unwrap().insert(key, f.clone());
        Ok(f)
    }

    /// The environment Lambda gives the function: the template's variables, then the ones
    /// Lambda sets from `LoggingConfig`.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = self.variables.clone();
        env.extend(self.logging.lambda_env());
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lambda_logs::{Level, LogFormat};

    #[test]
    fn the_template_keeps_lambdas_filter_at_info_or_debug_whatever_log_level_is() {
        for (log_level, lambda) in [
            ("ERROR", Level::Info),
            ("WARN", Level::Info),
            ("INFO", Level::Info),
            ("DEBUG", Level::Debug),
        ] {
            for function in ["CustomResourceFunction", "OrgEventsFunction"] {
                let f = TemplateFunction::load(function, &[("LogLevel", log_level)]).unwrap();
                assert_eq!(f.logging.format, LogFormat::Json, "{function}");
                assert_eq!(
                    f.logging.application,
                    Some(lambda),
                    "{function} {log_level}"
                );
                let env = f.env();
                assert!(
                    env.contains(&("LOG_LEVEL".into(), log_level.into())),
                    "{env:?}"
                );
                assert!(
                    env.contains(&("AWS_LAMBDA_LOG_LEVEL".into(), lambda.as_str().into())),
                    "{env:?}"
                );
                assert!(
                    env.contains(&("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into())),
                    "{env:?}"
                );
            }
        }
    }

    #[test]
    fn a_log_level_the_template_does_not_allow_is_refused_naming_it() {
        let e =
            TemplateFunction::load("OrgEventsFunction", &[("LogLevel", "VERBOSE")]).unwrap_err();
        assert!(
            e.contains("`VERBOSE`") && e.contains("ERROR, WARN, INFO, DEBUG"),
            "{e}"
        );
        let e = TemplateFunction::load("NoSuchFunction", &[]).unwrap_err();
        assert!(
            e.contains("`NoSuchFunction`") && e.contains("OrgEventsFunction"),
            "{e}"
        );
    }
}
