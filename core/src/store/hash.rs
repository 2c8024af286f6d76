//! Content hashes of files.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The lower-case hex sha256 and the size of a file, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let context = || format!("hashing {}", path.display());
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(context(), e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| Error::io(context(), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").map_err(|e| Error::io("write", e))?;
        let (digest, size) = sha256_file(&path)?;
        assert_eq!(
            digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(size, 3);
        Ok(())
    }
}
