//! buf's configuration, read as buf reads it, so that the gates and
//! `buf` agree on one tree: `buf.yaml` (v1 and v2) and `buf.work.yaml`,
//! found from the proto root upwards, or given with `--config FILE|DATA`
//! (YAML or JSON).
//!
//! This module reads the configuration; whether its selectors name known
//! rules is for the rule sets to say ([`super::configuration`] asks both).
//! Only the lint and breaking sections matter here; `deps`, `name` and
//! `build` are accepted and left alone. The defaults are buf's: lint
//! `STANDARD` (v1 `DEFAULT`), breaking `FILE`, comment ignores off in v1
//! and on in v2.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// A lint or breaking section as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    #[serde(default, rename = "use")]
    use_: Option<Vec<String>>,
    #[serde(default)]
    except: Vec<String>,
    #[serde(default)]
    ignore: Vec<String>,
    #[serde(default)]
    ignore_only: BTreeMap<String, Vec<String>>,
    // Lint.
    enum_zero_value_suffix: Option<String>,
    rpc_allow_same_request_response: Option<bool>,
    rpc_allow_google_protobuf_empty_requests: Option<bool>,
    rpc_allow_google_protobuf_empty_responses: Option<bool>,
    service_suffix: Option<String>,
    allow_comment_ignores: Option<bool>,
    disallow_comment_ignores: Option<bool>,
    // Breaking.
    ignore_unstable_packages: Option<bool>,
    // Accepted for compatibility, unused here.
    #[serde(default)]
    disable_builtin: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    excludes: Vec<String>,
    lint: Option<RawSection>,
    breaking: Option<RawSection>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    #[serde(default)]
    excludes: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBufYaml {
    version: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    deps: Vec<String>,
    #[serde(default)]
    build: Option<RawBuild>,
    #[serde(default)]
    modules: Vec<RawModule>,
    lint: Option<RawSection>,
    breaking: Option<RawSection>,
    #[serde(default)]
    plugins: Vec<serde_yaml_ng::Value>,
    #[serde(default)]
    policies: Vec<serde_yaml_ng::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWork {
    version: String,
    #[serde(default)]
    directories: Vec<String>,
}

/// The configuration version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Version {
    /// `version: v1` (also what applies when there is no configuration).
    #[default]
    V1,
    /// `version: v2`.
    V2,
}

/// One gate's section, resolved: rule selectors, paths relative to the
/// proto root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    /// `use`: rule ids and category names (buf's default when absent).
    pub use_: Vec<String>,
    /// `except`: rule ids and category names taken out again.
    pub except: Vec<String>,
    /// `ignore`: files and directories no rule looks at.
    pub ignore: Vec<String>,
    /// `ignore_only`: rule id or category to the paths it skips.
    pub ignore_only: BTreeMap<String, Vec<String>>,
}

impl Section {
    /// Whether `file` (relative to the proto root) is under one of `paths`.
    pub fn matches(paths: &[String], file: &str) -> bool {
        crate::descriptors::under(paths, file)
    }

    /// Every rule id or category name the section names, with the key
    /// that names it (`use`, `except` or `ignore_only`), for checking
    /// that each is known.
    pub fn selectors(&self) -> impl Iterator<Item = (&'static str, &String)> {
        let use_ = self.use_.iter().map(|n| ("use", n));
        let except = self.except.iter().map(|n| ("except", n));
        use_.chain(except).chain(self.ignore_only.keys().map(|n| ("ignore_only", n)))
    }
}

/// The options of buf's lint configuration that change what a rule
/// accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintOptions {
    /// `enum_zero_value_suffix` (default `_UNSPECIFIED`).
    pub enum_zero_value_suffix: String,
    /// `rpc_allow_same_request_response`.
    pub rpc_allow_same_request_response: bool,
    /// `rpc_allow_google_protobuf_empty_requests`.
    pub rpc_allow_google_protobuf_empty_requests: bool,
    /// `rpc_allow_google_protobuf_empty_responses`.
    pub rpc_allow_google_protobuf_empty_responses: bool,
    /// `service_suffix` (default `Service`).
    pub service_suffix: String,
}

impl Default for LintOptions {
    fn default() -> LintOptions {
        LintOptions {
            enum_zero_value_suffix: "_UNSPECIFIED".into(),
            rpc_allow_same_request_response: false,
            rpc_allow_google_protobuf_empty_requests: false,
            rpc_allow_google_protobuf_empty_responses: false,
            service_suffix: "Service".into(),
        }
    }
}

/// The lint section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    /// Rule selection and ignores.
    pub section: Section,
    /// The options the rules read.
    pub options: LintOptions,
    /// Whether `// buf:lint:ignore RULE` comments waive findings.
    pub allow_comment_ignores: bool,
}

/// The breaking section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breaking {
    /// Rule selection and ignores.
    pub section: Section,
    /// Whether packages with an unstable version (`v1alpha1`, `v1beta`,
    /// `v1test`, ...) are left out.
    pub ignore_unstable_packages: bool,
}

/// The configuration that applies to one proto root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The version it was written in.
    pub version: Version,
    /// Where it came from (a file, `--config` data, or buf's defaults).
    pub source: String,
    /// Files and directories excluded from the module.
    pub excludes: Vec<String>,
    /// Lint.
    pub lint: Lint,
    /// Breaking.
    pub breaking: Breaking,
}

impl Default for Config {
    fn default() -> Config {
        Config::from_sections(Version::V1, "buf's defaults".into(), Vec::new(), None, None, "")
            .unwrap_or_else(|_| unreachable!("the defaults are valid"))
    }
}

impl Config {
    fn from_sections(
        version: Version,
        source: String,
        excludes: Vec<String>,
        lint: Option<RawSection>,
        breaking: Option<RawSection>,
        module_prefix: &str,
    ) -> Result<Config> {
        // v2 paths are relative to the workspace (the buf.yaml's
        // directory) and so start with the module's path.
        let rel = |paths: Vec<String>| -> Vec<String> {
            paths
                .into_iter()
                .map(|p| {
                    let p = p.trim_start_matches("./").to_string();
                    if module_prefix.is_empty() {
                        p
                    } else if p == module_prefix {
                        ".".to_string()
                    } else {
                        p.strip_prefix(&format!("{module_prefix}/")).map(str::to_string).unwrap_or(p)
                    }
                })
                .collect()
        };
        let section = |raw: &RawSection, default: &str| Section {
            use_: raw.use_.clone().unwrap_or_else(|| vec![default.to_string()]),
            except: raw.except.clone(),
            ignore: rel(raw.ignore.clone()),
            ignore_only: raw.ignore_only.clone().into_iter().map(|(k, v)| (k, rel(v))).collect(),
        };
        let l = lint.unwrap_or_default();
        let b = breaking.unwrap_or_default();
        // Accepted so that v2 files using it load; there are no plugins here.
        let _ = (l.disable_builtin, b.disable_builtin);
        if version == Version::V1 && l.disallow_comment_ignores.is_some() {
            bail!("lint.disallow_comment_ignores is a v2 key; v1 uses lint.allow_comment_ignores");
        }
        if version == Version::V2 && l.allow_comment_ignores.is_some() {
            bail!("lint.allow_comment_ignores is a v1 key; v2 uses lint.disallow_comment_ignores");
        }
        let defaults = LintOptions::default();
        let allow_comment_ignores = match version {
            Version::V1 => l.allow_comment_ignores.unwrap_or(false),
            Version::V2 => !l.disallow_comment_ignores.unwrap_or(false),
        };
        let lint = Lint {
            section: section(&l, if version == Version::V1 { "DEFAULT" } else { "STANDARD" }),
            options: LintOptions {
                enum_zero_value_suffix: l.enum_zero_value_suffix.clone().unwrap_or(defaults.enum_zero_value_suffix),
                rpc_allow_same_request_response: l.rpc_allow_same_request_response.unwrap_or(false),
                rpc_allow_google_protobuf_empty_requests: l.rpc_allow_google_protobuf_empty_requests.unwrap_or(false),
                rpc_allow_google_protobuf_empty_responses: l.rpc_allow_google_protobuf_empty_responses.unwrap_or(false),
                service_suffix: l.service_suffix.clone().unwrap_or(defaults.service_suffix),
            },
            allow_comment_ignores,
        };
        let breaking = Breaking {
            section: section(&b, "FILE"),
            ignore_unstable_packages: b.ignore_unstable_packages.unwrap_or(false),
        };
        Ok(Config { version, source, excludes: rel(excludes), lint, breaking })
    }
}

fn parse<T: for<'de> Deserialize<'de>>(text: &str, source: &str) -> Result<T> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    serde_yaml_ng::from_str(text).map_err(|e| match e.location() {
        Some(at) => anyhow::anyhow!("{source}:{}:{}: {e}", at.line(), at.column()),
        None => anyhow::anyhow!("{source}: {e}"),
    })
}

fn version_of(raw: &str, source: &str) -> Result<Version> {
    match raw {
        "v1" => Ok(Version::V1),
        "v2" => Ok(Version::V2),
        other => bail!("{source}: unsupported version `{other}` (expected v1 or v2)"),
    }
}

/// Reads a `buf.yaml` (text from `source`, whose directory is `dir`) as
/// it applies to `proto_root`; `None` when it is a v2 file none of whose
/// modules is the proto root.
fn from_buf_yaml(text: &str, source: &str, dir: Option<&Path>, proto_root: &Path) -> Result<Option<Config>> {
    let raw: RawBufYaml = parse(text, source)?;
    let version = version_of(&raw.version, source)?;
    let _ = (&raw.name, &raw.deps, &raw.plugins, &raw.policies);
    match version {
        Version::V1 => {
            let excludes = raw.build.map(|b| b.excludes).unwrap_or_default();
            Config::from_sections(version, source.into(), excludes, raw.lint, raw.breaking, "").map(Some)
        }
        Version::V2 => {
            if raw.build.is_some() {
                bail!("{source}: `build` is a v1 key; v2 puts `excludes` on each module");
            }
            let modules = if raw.modules.is_empty() { vec![RawModule::default()] } else { raw.modules };
            let root = canonical(proto_root);
            let picked = if modules.len() == 1 && dir.is_none() {
                modules.into_iter().next()
            } else {
                modules.into_iter().find(|m| {
                    let path = m.path.as_deref().unwrap_or(".");
                    dir.is_some_and(|d| canonical(&d.join(path)) == root)
                })
            };
            let Some(module) = picked else { return Ok(None) };
            let _ = &module.name;
            let prefix =
                module.path.clone().unwrap_or_default().trim_start_matches("./").trim_end_matches('/').to_string();
            let prefix = if prefix == "." { String::new() } else { prefix };
            let lint = module.lint.or(raw.lint);
            let breaking = module.breaking.or(raw.breaking);
            Config::from_sections(version, source.into(), module.excludes, lint, breaking, &prefix).map(Some)
        }
    }
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// The configuration that applies to `proto_root`: `--config` when given
/// (a file, or YAML/JSON data), else the first of, from the proto root
/// upwards, a `buf.yaml` that configures it (v1 in the root itself, or v2
/// with a module whose `path` is the root) or a `buf.work.yaml` listing
/// it; else buf's defaults.
pub fn load(proto_root: &Path, explicit: Option<&str>) -> Result<Config> {
    if let Some(given) = explicit {
        let path = Path::new(given);
        if path.is_file() {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{given}`"))?;
            return from_buf_yaml(&text, given, path.parent(), proto_root)?
                .with_context(|| format!("`{given}` has no module whose path is `{}`", proto_root.display()));
        }
        if !given.trim_start().starts_with(['{', 'v']) {
            bail!("--config `{given}`: no such file, and not YAML or JSON data");
        }
        return from_buf_yaml(given, "--config", None, proto_root)?.context("--config: no module applies");
    }
    let root = canonical(proto_root);
    let mut dir = Some(root.as_path());
    while let Some(d) = dir {
        let yaml = d.join("buf.yaml");
        if yaml.is_file() {
            let text = std::fs::read_to_string(&yaml).with_context(|| format!("cannot read `{}`", yaml.display()))?;
            let source = yaml.display().to_string();
            let here = d == root;
            let raw: RawBufYaml = parse(&text, &source)?;
            if (here || raw.version == "v2")
                && let Some(config) = from_buf_yaml(&text, &source, Some(d), proto_root)?
            {
                return Ok(config);
            }
        }
        let work = d.join("buf.work.yaml");
        if work.is_file() {
            let text = std::fs::read_to_string(&work).with_context(|| format!("cannot read `{}`", work.display()))?;
            let source = work.display().to_string();
            let raw: RawWork = parse(&text, &source)?;
            version_of(&raw.version, &source)?;
            if raw.directories.iter().any(|dir| canonical(&d.join(dir)) == root) {
                // The workspace lists the root: its own buf.yaml (checked
                // above) or buf's defaults.
                return Ok(Config { source, ..Config::default() });
            }
        }
        dir = d.parent();
    }
    Ok(Config::default())
}
