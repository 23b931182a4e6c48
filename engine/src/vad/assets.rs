//! Finding what Silero VAD needs at run time: the ONNX model and the ONNX
//! Runtime shared library. Nothing is downloaded by the engine: an installed
//! engine (`pip install v2m-engine`) finds the model the wheel ships and the library
//! of the `onnxruntime` wheel in its own Python environment; in the project,
//! `make` fetches both from PyPI wheels.

use std::path::{Path, PathBuf};

use crate::error::EngineError;
use crate::log;

/// The model file the engine uses by default (docs/engine.md says why this variant).
pub const DEFAULT_MODEL: &str = "silero_vad.onnx";
/// The ONNX Runtime build `ort`'s `api-31` feature expects.
pub const ORT_LIBRARY: &str = "libonnxruntime.so.1.31.1";

/// Where the model and the runtime library are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SileroFiles {
    /// The `.onnx` model.
    pub model: PathBuf,
    /// `libonnxruntime.so.1.31.1`.
    pub ort_library: PathBuf,
}

const HOW_TO_GET_MODEL: &str = "reinstall the v2m-engine package (its wheel carries the model), \
     or run `make models` in the v2m project, or pass --vad-model PATH or set V2M_VAD_MODEL";
const HOW_TO_GET_ORT: &str = "install the ort extra into the engine's Python environment: \
     pip install \"v2m-engine[ort]\" (it brings onnxruntime==1.31.1), or run `make deps` in the v2m project, \
     or pass --ort-lib .../onnxruntime/capi/libonnxruntime.so.1.31.1 or set ORT_DYLIB_PATH";

/// Finds the files: the flag, then the environment variable, then the
/// Python environment the engine is installed in (`<prefix>/bin/v2m-engine`
/// next to `<prefix>/lib/python*/site-packages`), then the project's default
/// places (next to the engine binary's `target/` or in the current directory).
pub fn locate(model_flag: Option<&Path>, library_flag: Option<&Path>) -> Result<SileroFiles, EngineError> {
    let model = locate_model(model_flag)?;
    let ort_library = locate_ort_library(library_flag)?;
    log::debug!("Silero model {}, ONNX Runtime {}", model.display(), ort_library.display());
    Ok(SileroFiles { model, ort_library })
}

/// The Silero model alone (the native backend needs nothing else), found as
/// [`locate`] finds it.
pub fn locate_model(model_flag: Option<&Path>) -> Result<PathBuf, EngineError> {
    let roots = project_roots();
    pick(
        "the Silero VAD model",
        model_flag,
        "V2M_VAD_MODEL",
        installed_site_packages()
            .iter()
            .map(|sp| sp.join("v2m/models").join(DEFAULT_MODEL))
            .chain(roots.iter().map(|r| r.join("models/silero_vad").join(DEFAULT_MODEL)))
            .collect(),
        HOW_TO_GET_MODEL,
        "--vad energy works without it",
    )
}

fn locate_ort_library(library_flag: Option<&Path>) -> Result<PathBuf, EngineError> {
    let roots = project_roots();
    pick(
        "the ONNX Runtime library",
        library_flag,
        "ORT_DYLIB_PATH",
        installed_site_packages()
            .iter()
            .map(|sp| sp.join("onnxruntime/capi").join(ORT_LIBRARY))
            .chain(
                roots
                    .iter()
                    .flat_map(|r| site_packages(&r.join(".venv")))
                    .map(|sp| sp.join("onnxruntime/capi").join(ORT_LIBRARY)),
            )
            .collect(),
        HOW_TO_GET_ORT,
        "--vad-backend native (the default) works without it",
    )
}

fn pick(
    what: &str,
    flag: Option<&Path>,
    env_var: &str,
    defaults: Vec<PathBuf>,
    how: &str,
    without: &str,
) -> Result<PathBuf, EngineError> {
    let missing = |path: &Path, from: &str| {
        EngineError::BadInput(format!(
            "--vad silero: {what} {} ({from}) does not exist; {how}; {without}",
            path.display()
        ))
    };
    if let Some(path) = flag {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(missing(path, "given on the command line"))
        };
    }
    if let Some(path) = std::env::var_os(env_var).filter(|v| !v.is_empty()).map(PathBuf::from) {
        return if path.is_file() { Ok(path) } else { Err(missing(&path, env_var)) };
    }
    defaults.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        let looked: Vec<String> = defaults.iter().map(|p| p.display().to_string()).collect();
        EngineError::BadInput(format!(
            "--vad silero: {what} was not found (looked in {}); {how}; {without}",
            if looked.is_empty() { "no project directory".to_string() } else { looked.join(", ") }
        ))
    })
}

/// The project directory the engine was built in (`<root>/target/<profile>/v2m-engine`)
/// and the current directory.
fn project_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    // `<root>/target/[<triple>/]release/v2m-engine`: the parent of `target`.
    let exe = std::env::current_exe().ok();
    let target = exe.as_deref().and_then(|exe| exe.ancestors().find(|dir| dir.ends_with("target")));
    if let Some(root) = target.and_then(Path::parent).map(Path::to_path_buf) {
        roots.push(root);
    }
    if let Ok(cwd) = std::env::current_dir() {
        if !roots.contains(&cwd) {
            roots.push(cwd);
        }
    }
    roots
}

/// The site-packages directories of the Python environment whose `bin/` holds
/// this executable (a venv, `--user`, or a system prefix).
fn installed_site_packages() -> Vec<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().and_then(Path::parent).map(Path::to_path_buf))
        .map(|prefix| site_packages(&prefix))
        .unwrap_or_default()
}

/// `<prefix>/lib/python*/{site,dist}-packages`.
fn site_packages(prefix: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(prefix.join("lib")) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
        .flat_map(|e| ["site-packages", "dist-packages"].map(|d| e.path().join(d)))
        .filter(|p| p.is_dir())
        .collect();
    found.sort();
    found
}
