//! The secret vault (promise L2): API keys encrypted at rest.
//!
//! Keys are sealed with XChaCha20-Poly1305 under a 256-bit master key. The master key
//! lives in its own file (`master.key` in the data directory, mode 0600, or the file
//! named by `ORCHARD_MASTER_KEY_FILE`), never in the database: a copy of the database
//! alone reveals no key. Each ciphertext is bound to its owner and provider through the
//! AEAD's associated data, so a sealed key moved to another row does not open.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use orchard_core::secret::{ApiKey, SealedKey};
use orchard_core::{ProviderId, UserId};
use zeroize::Zeroizing;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// A vault failure. Messages name files and what to do; never a key.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// Reading or writing the master key file failed.
    #[error("cannot use the master key file {}: {detail}", path.display())]
    Io {
        /// The master key file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The file does not hold a master key.
    #[error(
        "the master key file {} must hold 64 hexadecimal characters (for example the output of `openssl rand -hex 32`)",
        path.display()
    )]
    BadKeyFile {
        /// The master key file.
        path: PathBuf,
    },
    /// Other users can read the master key.
    #[error(
        "the master key file {} can be read by other users (mode {mode:o}); run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    LoosePermissions {
        /// The master key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A sealed key did not open: the master key changed, or the row was tampered with.
    #[error(
        "a stored API key cannot be decrypted with this master key (was the master key file replaced?); add the key again"
    )]
    Decrypt,
    /// The random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// Who a sealed key belongs to; bound into the ciphertext as associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyOwner {
    /// The person.
    pub user: UserId,
    /// The provider the key is for.
    pub provider: ProviderId,
}

impl KeyOwner {
    fn aad(&self) -> Vec<u8> {
        format!(
            "orchard/api-key/v1/user:{}/provider:{}",
            self.user, self.provider
        )
        .into_bytes()
    }
}

/// Seals and opens API keys.
pub struct Vault {
    cipher: XChaCha20Poly1305,
    path: PathBuf,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Opens the master key at `path`, creating it (mode 0600) if it does not exist.
    /// Refuses a file that other users can read: a master key anyone can read protects
    /// nothing.
    pub fn open_or_create(path: &Path) -> Result<Self, VaultError> {
        let io = |e: std::io::Error| VaultError::Io {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        // If another process creates it first, `create` returns `None` and theirs is used.
        if !path.exists()
            && let Some(vault) = Self::create(path)?
        {
            return Ok(vault);
        }
        check_permissions(path).map_err(|e| match e {
            PermError::Io(e) => io(e),
            PermError::Loose(mode) => VaultError::LoosePermissions {
                path: path.to_path_buf(),
                mode,
            },
        })?;
        Self::load(path)
    }

    /// Opens an existing master key file named by the operator
    /// (`ORCHARD_MASTER_KEY_FILE`). Its permissions are the operator's business (secret
    /// mounts are often 0440), so they are not checked.
    pub fn open_existing(path: &Path) -> Result<Self, VaultError> {
        Self::load(path)
    }

    /// The master key file in use.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Encrypts `key` for `owner`.
    pub fn seal(&self, key: &ApiKey, owner: KeyOwner) -> Result<SealedKey, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| VaultError::Random(e.to_string()))?;
        let aad = owner.aad();
        let ciphertext = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: key.expose().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Random("encryption failed".into()))?;
        Ok(SealedKey {
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Decrypts a key sealed for `owner`.
    pub fn open(&self, sealed: &SealedKey, owner: KeyOwner) -> Result<ApiKey, VaultError> {
        let nonce: [u8; NONCE_LEN] = sealed
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::Decrypt)?;
        let aad = owner.aad();
        let plain = Zeroizing::new(
            self.cipher
                .decrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: &sealed.ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| VaultError::Decrypt)?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| VaultError::Decrypt)?;
        ApiKey::parse(text).map_err(|_| VaultError::Decrypt)
    }

    /// Writes a new master key to a private temporary file, then links it into place.
    /// Linking fails if the file exists, so of two processes starting together exactly
    /// one key wins, and no process can ever see a half-written key file (a crash leaves
    /// at most a stray temporary file). Returns `None` if another process won.
    fn create(path: &Path) -> Result<Option<Self>, VaultError> {
        let io = |e: std::io::Error| VaultError::Io {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(key.as_mut()).map_err(|e| VaultError::Random(e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(io)?;
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).map_err(|e| VaultError::Random(e.to_string()))?;
        let tmp = dir.join(format!(".master.key.{}.tmp", hex::encode(suffix)));
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let written = (|| {
            let mut file = opts.open(&tmp)?;
            let hexed = Zeroizing::new(format!("{}\n", hex::encode(key.as_ref())));
            file.write_all(hexed.as_bytes())?;
            file.sync_all()?;
            fs::hard_link(&tmp, path)
        })();
        let _ = fs::remove_file(&tmp);
        match written {
            Ok(()) => Ok(Some(Self {
                cipher: XChaCha20Poly1305::new(&(*key).into()),
                path: path.to_path_buf(),
            })),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    fn load(path: &Path) -> Result<Self, VaultError> {
        let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| VaultError::Io {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?);
        let bad = || VaultError::BadKeyFile {
            path: path.to_path_buf(),
        };
        let trimmed = text.trim();
        if trimmed.len() != KEY_LEN * 2 {
            return Err(bad());
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        hex::decode_to_slice(trimmed, key.as_mut()).map_err(|_| bad())?;
        Ok(Self {
            cipher: XChaCha20Poly1305::new(&(*key).into()),
            path: path.to_path_buf(),
        })
    }
}

enum PermError {
    Io(std::io::Error),
    Loose(u32),
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), PermError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .map_err(PermError::Io)?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(PermError::Loose(mode));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), PermError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "sk-test-0123456789abcdefghijklmnopqrstuv";

    fn owner(u: i64, p: i64) -> KeyOwner {
        KeyOwner {
            user: UserId::new(u),
            provider: ProviderId::new(p),
        }
    }

    #[test]
    fn p_l2_sealed_keys_do_not_contain_the_plaintext_and_open_again() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open_or_create(&dir.path().join("master.key")).unwrap();
        let key = ApiKey::parse(SECRET).unwrap();
        let sealed = vault.seal(&key, owner(1, 2)).unwrap();
        assert!(
            !sealed
                .ciphertext
                .windows(8)
                .any(|w| SECRET.as_bytes().windows(8).any(|s| s == w))
        );
        assert_eq!(vault.open(&sealed, owner(1, 2)).unwrap(), key);
        // Same key sealed twice: different nonces, different ciphertexts.
        assert_ne!(vault.seal(&key, owner(1, 2)).unwrap(), sealed);
    }

    #[test]
    fn sealed_keys_are_bound_to_their_owner_and_provider() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open_or_create(&dir.path().join("master.key")).unwrap();
        let sealed = vault
            .seal(&ApiKey::parse(SECRET).unwrap(), owner(1, 2))
            .unwrap();
        assert!(matches!(
            vault.open(&sealed, owner(1, 3)),
            Err(VaultError::Decrypt)
        ));
        assert!(matches!(
            vault.open(&sealed, owner(2, 2)),
            Err(VaultError::Decrypt)
        ));
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(matches!(
            vault.open(&tampered, owner(1, 2)),
            Err(VaultError::Decrypt)
        ));
    }

    #[test]
    fn p_l2_master_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("master.key");
        let v1 = Vault::open_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let sealed = v1
            .seal(&ApiKey::parse(SECRET).unwrap(), owner(1, 1))
            .unwrap();
        let v2 = Vault::open_or_create(&path).unwrap();
        assert_eq!(v2.open(&sealed, owner(1, 1)).unwrap().expose(), SECRET);
    }

    #[test]
    fn processes_racing_to_create_the_master_key_all_get_the_same_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let sealed_by: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| Vault::open_or_create(&path).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let sealed = sealed_by[0]
            .seal(&ApiKey::parse(SECRET).unwrap(), owner(1, 1))
            .unwrap();
        for v in &sealed_by {
            assert_eq!(v.open(&sealed, owner(1, 1)).unwrap().expose(), SECRET);
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("master.key")]);
    }

    #[test]
    fn another_master_key_cannot_open_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let a = Vault::open_or_create(&dir.path().join("a.key")).unwrap();
        let b = Vault::open_or_create(&dir.path().join("b.key")).unwrap();
        let sealed = a
            .seal(&ApiKey::parse(SECRET).unwrap(), owner(1, 1))
            .unwrap();
        let err = b.open(&sealed, owner(1, 1)).unwrap_err();
        assert!(err.to_string().contains("add the key again"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_world_readable_master_key_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        Vault::open_or_create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = Vault::open_or_create(&path).unwrap_err();
        assert!(
            matches!(err, VaultError::LoosePermissions { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"));
        // An operator-provided file is the operator's business.
        Vault::open_existing(&path).unwrap();
    }

    #[test]
    fn a_malformed_master_key_file_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mk");
        fs::write(&path, "not hex at all").unwrap();
        let err = Vault::open_existing(&path).unwrap_err();
        assert!(matches!(err, VaultError::BadKeyFile { .. }));
        assert!(err.to_string().contains("openssl rand -hex 32"));
        fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
        Vault::open_existing(&path).unwrap();
    }
}
