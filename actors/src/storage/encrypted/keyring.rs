//! The keys of encryption at rest and the sealing of one body (AES-256-GCM, bound to its
//! queue): what [`super::Encrypting`] applies to every store.

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::value::RawValue;

use crate::error::{Result, StorageError};
use crate::model::QueueId;

pub(super) const SEALED: &str = "\"zaqar:enc:";
pub(super) const ESCAPED: &str = "\"zaqar:raw:";
pub(super) const RESERVED: &str = "\"zaqar:";
const NONCE_LEN: usize = 12;

/// The encryption keys, by id; the last one seals, all of them open.
#[derive(Default)]
pub struct Keyring {
    keys: Vec<(String, Aes256Gcm)>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("ids", &ids).finish()
    }
}

impl Keyring {
    /// Parses `ID:BASE64` entries (32-byte keys). The errors name the entry by position and
    /// never show key material.
    pub fn parse(entries: &[&str]) -> std::result::Result<Self, String> {
        let mut keys: Vec<(String, Aes256Gcm)> = Vec::with_capacity(entries.len());
        for (n, entry) in entries.iter().enumerate() {
            let n = n + 1;
            let (id, material) = entry
                .split_once(':')
                .ok_or_else(|| format!("entry {n} is not ID:BASE64"))?;
            let id = id.trim();
            if id.is_empty()
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "entry {n}: the key id must be letters, digits, - or _"
                ));
            }
            if keys.iter().any(|(known, _)| known == id) {
                return Err(format!("entry {n}: key id {id} is given twice"));
            }
            let bytes = STANDARD
                .decode(material.trim())
                .map_err(|_| format!("entry {n} (key id {id}): the key is not base64"))?;
            if bytes.len() != 32 {
                return Err(format!(
                    "entry {n} (key id {id}): the key must be 32 bytes, not {}",
                    bytes.len()
                ));
            }
            keys.push((
                id.to_owned(),
                Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)),
            ));
        }
        Ok(Self { keys })
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(super) fn seal(&self, queue: &QueueId, body: &RawValue) -> Result<Box<RawValue>> {
        let (id, cipher) = self
            .keys
            .last()
            .ok_or_else(|| StorageError::unavailable("no encryption key"))?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = associated_data(queue);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: body.get().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| StorageError::unavailable("encryption failed"))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        let text = format!("{SEALED}{id}:{}\"", STANDARD.encode(blob));
        RawValue::from_string(text).map_err(StorageError::unavailable)
    }

    pub(super) fn open(&self, queue: &QueueId, id: &str, stored: &str) -> Result<Box<RawValue>> {
        let fail = |why: &str| {
            tracing::error!(
                project = %queue.project,
                queue = %queue.name,
                message = id,
                "encrypted message body does not open: {why}"
            );
            StorageError::unavailable(format!("message {id}: encrypted body does not open: {why}"))
        };
        let inner = &stored[SEALED.len()..stored.len().saturating_sub(1)];
        let (key_id, blob) = inner.split_once(':').ok_or_else(|| fail("malformed"))?;
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(known, _)| known == key_id)
            .ok_or_else(|| fail(&format!("key id {key_id} is not configured")))?;
        let blob = STANDARD.decode(blob).map_err(|_| fail("malformed"))?;
        if blob.len() < NONCE_LEN {
            return Err(fail("malformed"));
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let aad = associated_data(queue);
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| fail("it does not authenticate (tampered, or another queue's)"))?;
        let text = String::from_utf8(plain).map_err(|_| fail("not text"))?;
        RawValue::from_string(text).map_err(|_| fail("not JSON"))
    }
}

/// The queue a sealed body belongs to, length-prefixed so no two queues share it.
fn associated_data(queue: &QueueId) -> String {
    format!("{}:{}/{}", queue.project.len(), queue.project, queue.name)
}
