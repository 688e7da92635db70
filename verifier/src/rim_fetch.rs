//! The optional online source of NVIDIA RIMs: NVIDIA's RIM service or a mirror of it. Off unless
//! `[gpu_rims] fetch_url` is set; the verifier is offline-first and RIMs normally come from
//! `warden-verifier rims import`.
//!
//! Nothing fetched is trusted for being fetched: a RIM goes through the same rules as an
//! imported file ([`verify_fetched`]: XML signature and chain to the pinned CoRIM signing root, or
//! a configured test root; the id that follows from its signed content must be the id asked
//! for) and then through [`RimStore::import`]. Attestation reads RIMs from the store, and
//! verifies them again there at its own time.
//!
//! Request and response (NVIDIA RIM service v1, as nvtrust's `cc_admin_utils.fetch_rim_file`
//! uses it): `GET {fetch_url}{id}`, optionally with `Authorization: Bearer <service key>`,
//! answered by a JSON object
//! `{"id": ..., "rim": "<base64 of the document>", "sha256": "<hex>", "rim_format": "TCG",
//! "last_updated": ..., "request_id": ...}`. Of these:
//! - `rim` is required: standard base64 (with padding) of the SWID XML document;
//! - `sha256`, when present, must be the SHA-256 of the decoded document (that is what NVIDIA
//!   sends). It only catches transport or mirror corruption: the signature is what
//!   authenticates a RIM, so a response without it is accepted;
//! - `id`, when present, must equal the id asked for;
//! - `rim_format`, when present, must be `TCG` (the SWID format); NVIDIA serves CoRIMs for other
//!   products under `CORIM`, which this verifier does not read;
//! - other members are ignored.

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use warden_evidence::UnixTime;
use warden_evidence::nvidia::rim::{RimError, RimVerifier};
use zeroize::Zeroizing;

use crate::config::RimFetchConfig;
use crate::rims::{self, ImportEntry, RimFile, RimStore};

/// Largest response body accepted: a base64 RIM under the parser's 1 MiB limit with its JSON
/// envelope fits several times over.
pub const MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;

/// Longest RIM id accepted.
const MAX_ID_LEN: usize = 128;

/// Why a RIM could not be fetched, or a fetched one was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RimFetchError {
    /// The id is empty, too long, or has characters other than ASCII letters, digits, `.`, `_`
    /// and `-` (it becomes part of a URL path).
    #[error("{id:?} is not a RIM id")]
    InvalidId {
        /// The id.
        id: String,
    },
    /// The service key file could not be read, or is empty.
    #[error("service key file {path}: {reason}")]
    ServiceKey {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The service has no RIM of this id (HTTP 404).
    #[error("RIM {id}: not found at the RIM service")]
    NotFound {
        /// The id.
        id: String,
    },
    /// The service answered with another status than 200 or 404.
    #[error("RIM {id}: the RIM service answered HTTP {status}")]
    Status {
        /// The id.
        id: String,
        /// The HTTP status.
        status: u16,
    },
    /// No answer within the configured timeout.
    #[error("RIM {id}: the RIM service did not answer in time ({reason})")]
    Timeout {
        /// The id.
        id: String,
        /// Which timeout.
        reason: String,
    },
    /// The request failed (connection, TLS, protocol).
    #[error("RIM {id}: request failed: {reason}")]
    Transport {
        /// The id.
        id: String,
        /// What went wrong.
        reason: String,
    },
    /// The response is larger than [`MAX_RESPONSE_BYTES`].
    #[error("RIM {id}: response larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge {
        /// The id.
        id: String,
    },
    /// The response is not a JSON object.
    #[error("RIM {id}: response is not a JSON object: {reason}")]
    NotJson {
        /// The id.
        id: String,
        /// The parser's message.
        reason: String,
    },
    /// The response has no `rim` string.
    #[error("RIM {id}: response has no \"rim\" string")]
    MissingRim {
        /// The id.
        id: String,
    },
    /// A member other than `rim` has the wrong JSON type.
    #[error("RIM {id}: response member {member:?} is not a string")]
    MemberType {
        /// The id.
        id: String,
        /// The member.
        member: &'static str,
    },
    /// `rim` is not standard base64.
    #[error("RIM {id}: \"rim\" is not base64: {reason}")]
    Base64 {
        /// The id.
        id: String,
        /// The decoder's message.
        reason: String,
    },
    /// `sha256` is not the SHA-256 of the decoded document.
    #[error("RIM {id}: response says sha256 {expected}, the document's is {actual}")]
    Digest {
        /// The id.
        id: String,
        /// The response's `sha256`.
        expected: String,
        /// The document's, in lowercase hex.
        actual: String,
    },
    /// The response's `id` is not the id asked for.
    #[error("RIM {requested}: the response is for {returned:?}")]
    IdMismatch {
        /// The id asked for.
        requested: String,
        /// The response's `id`.
        returned: String,
    },
    /// The response's `rim_format` is not `TCG` (SWID).
    #[error("RIM {id}: rim_format {format:?} is not the SWID format \"TCG\"")]
    Format {
        /// The id.
        id: String,
        /// The response's `rim_format`.
        format: String,
    },
    /// The document does not verify (signature, chain, validity, structure).
    #[error("RIM {id}: fetched document does not verify: {reason}")]
    Verify {
        /// The id.
        id: String,
        /// Why (under the last root tried).
        reason: RimError,
    },
    /// The document verifies but is not the RIM of this id: its signed content names another
    /// driver version, kind or product, or another VBIOS version.
    #[error("RIM {id}: fetched document is not this RIM: {reason}")]
    WrongRim {
        /// The id.
        id: String,
        /// Why.
        reason: String,
    },
    /// The RIM store failed.
    #[error("RIM {id}: cannot store the fetched RIM: {reason}")]
    Store {
        /// The id.
        id: String,
        /// Why.
        reason: String,
    },
}

/// The bearer token sent to the RIM service. Never printed.
#[derive(Clone)]
struct ServiceKey(Zeroizing<String>);

impl std::fmt::Debug for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceKey(<redacted>)")
    }
}

/// A RIM service client.
#[derive(Debug, Clone)]
pub struct RimClient {
    base: String,
    key: Option<ServiceKey>,
    agent: ureq::Agent,
}

impl RimClient {
    /// A client for `config`; reads its service key file, if any (surrounding whitespace is
    /// dropped).
    ///
    /// # Errors
    ///
    /// [`RimFetchError::ServiceKey`] when the key file is unreadable or empty.
    pub fn new(config: &RimFetchConfig) -> Result<Self, RimFetchError> {
        let key = config
            .service_key_file
            .as_deref()
            .map(read_service_key)
            .transpose()?;
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .user_agent(concat!("warden-verifier/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self {
            base: config.url.clone(),
            key,
            agent,
        })
    }

    /// The service URL ids are appended to.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Where the RIM `id` is fetched from.
    pub fn url_for(&self, id: &str) -> String {
        format!("{}{id}", self.base)
    }

    /// The RIM document (SWID XML) filed under `id`, checked against the response's `id`,
    /// `sha256` and `rim_format` as the module documentation says. It is not verified here:
    /// see [`verify_fetched`].
    ///
    /// # Errors
    ///
    /// [`RimFetchError`].
    pub fn fetch(&self, id: &str) -> Result<Vec<u8>, RimFetchError> {
        check_id(id)?;
        let url = self.url_for(id);
        let mut request = self.agent.get(&url);
        if let Some(key) = &self.key {
            let value = Zeroizing::new(format!("Bearer {}", key.0.as_str()));
            request = request.header("Authorization", value.as_str());
        }
        let mut response = request.call().map_err(|e| match e {
            ureq::Error::Timeout(which) => RimFetchError::Timeout {
                id: id.to_owned(),
                reason: which.to_string(),
            },
            other => RimFetchError::Transport {
                id: id.to_owned(),
                reason: other.to_string(),
            },
        })?;
        match response.status().as_u16() {
            200 => {}
            404 => return Err(RimFetchError::NotFound { id: id.to_owned() }),
            status => {
                return Err(RimFetchError::Status {
                    id: id.to_owned(),
                    status,
                });
            }
        }
        let mut body = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_RESPONSE_BYTES + 1)
            .read_to_end(&mut body)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::TimedOut => RimFetchError::Timeout {
                    id: id.to_owned(),
                    reason: e.to_string(),
                },
                _ => RimFetchError::Transport {
                    id: id.to_owned(),
                    reason: format!("reading the body: {e}"),
                },
            })?;
        if body.len() as u64 > MAX_RESPONSE_BYTES {
            return Err(RimFetchError::TooLarge { id: id.to_owned() });
        }
        decode_response(id, &body)
    }
}

fn read_service_key(path: &Path) -> Result<ServiceKey, RimFetchError> {
    let error = |reason: String| RimFetchError::ServiceKey {
        path: path.to_owned(),
        reason,
    };
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?);
    let key = text.trim();
    if key.is_empty() {
        return Err(error("the file is empty".to_owned()));
    }
    // A header value may not hold control characters; a key with one is a broken file.
    if key.chars().any(char::is_control) {
        return Err(error("the key has control characters".to_owned()));
    }
    Ok(ServiceKey(Zeroizing::new(key.to_owned())))
}

/// Refuses ids that are not plain RIM ids: they go into a URL path.
fn check_id(id: &str) -> Result<(), RimFetchError> {
    let plain = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !id.starts_with('.');
    if plain {
        Ok(())
    } else {
        Err(RimFetchError::InvalidId { id: id.to_owned() })
    }
}

/// The document in a RIM service response `body` for `id`.
///
/// # Errors
///
/// [`RimFetchError`] for a response that is not JSON, lacks `rim`, has a bad base64 or a
/// mismatching `sha256`, `id` or `rim_format`.
pub fn decode_response(id: &str, body: &[u8]) -> Result<Vec<u8>, RimFetchError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| RimFetchError::NotJson {
            id: id.to_owned(),
            reason: e.to_string(),
        })?;
    let Some(object) = value.as_object() else {
        return Err(RimFetchError::NotJson {
            id: id.to_owned(),
            reason: "not an object".to_owned(),
        });
    };
    let member = |name: &'static str| -> Result<Option<&str>, RimFetchError> {
        match object.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(RimFetchError::MemberType {
                id: id.to_owned(),
                member: name,
            }),
        }
    };
    if let Some(returned) = member("id")?
        && returned != id
    {
        return Err(RimFetchError::IdMismatch {
            requested: id.to_owned(),
            returned: returned.to_owned(),
        });
    }
    if let Some(format) = member("rim_format")?
        && !format.eq_ignore_ascii_case("TCG")
    {
        return Err(RimFetchError::Format {
            id: id.to_owned(),
            format: format.to_owned(),
        });
    }
    let Some(serde_json::Value::String(rim)) = object.get("rim") else {
        return Err(RimFetchError::MissingRim { id: id.to_owned() });
    };
    let document = base64::engine::general_purpose::STANDARD
        .decode(rim)
        .map_err(|e| RimFetchError::Base64 {
            id: id.to_owned(),
            reason: e.to_string(),
        })?;
    if let Some(expected) = member("sha256")? {
        let actual = hex::encode(Sha256::digest(&document));
        if !expected.eq_ignore_ascii_case(&actual) {
            return Err(RimFetchError::Digest {
                id: id.to_owned(),
                expected: expected.to_owned(),
                actual,
            });
        }
    }
    Ok(document)
}

/// Verifies a fetched `document` for `id` at `at` by the rules of `rims import`: it must verify
/// under one of `verifiers` (the pinned CoRIM root first, then any test roots), and the id that
/// follows from its signed content ([`rims::rim_id`], with `id` standing for the file name a
/// VBIOS RIM is named by) must be `id`. The source recorded is `fetch:<url>`.
///
/// # Errors
///
/// [`RimFetchError::Verify`] (the reason under the last verifier) or
/// [`RimFetchError::WrongRim`].
pub fn verify_fetched(
    id: &str,
    url: &str,
    document: Vec<u8>,
    verifiers: &[&RimVerifier],
    at: UnixTime,
) -> Result<RimFile, RimFetchError> {
    let mut last = RimError::Schema {
        what: "no RIM verifier configured",
    };
    for verifier in verifiers {
        match verifier.verify(at, &document) {
            Ok(rim) => {
                let derived = rims::rim_id(Path::new(id), &rim).map_err(|reason| {
                    RimFetchError::WrongRim {
                        id: id.to_owned(),
                        reason,
                    }
                })?;
                if derived != id {
                    return Err(RimFetchError::WrongRim {
                        id: id.to_owned(),
                        reason: format!("its signed content makes it {derived}"),
                    });
                }
                return Ok(RimFile {
                    source: format!("fetch:{url}"),
                    id: derived,
                    body: document,
                    rim,
                });
            }
            Err(e) => last = e,
        }
    }
    Err(RimFetchError::Verify {
        id: id.to_owned(),
        reason: last,
    })
}

/// Fetches the RIM `id`, verifies it at `now` ([`verify_fetched`]) and offers it to `store`;
/// returns what became of it and the verified RIM.
///
/// # Errors
///
/// [`RimFetchError`]; nothing is stored then.
pub fn fetch_into(
    client: &RimClient,
    store: &RimStore,
    verifiers: &[&RimVerifier],
    id: &str,
    now: UnixTime,
) -> Result<(ImportEntry, RimFile), RimFetchError> {
    fetch_into_at(client, store, verifiers, id, now, now)
}

/// [`fetch_into`] verifying at `at` and recording `now` as the time stored (`rims fetch --at`,
/// for RIMs whose signer has expired).
///
/// # Errors
///
/// [`RimFetchError`]; nothing is stored then.
pub fn fetch_into_at(
    client: &RimClient,
    store: &RimStore,
    verifiers: &[&RimVerifier],
    id: &str,
    at: UnixTime,
    now: UnixTime,
) -> Result<(ImportEntry, RimFile), RimFetchError> {
    let document = client.fetch(id)?;
    let file = verify_fetched(id, &client.url_for(id), document, verifiers, at)?;
    let entries = store
        .import(vec![file.clone()], now)
        .map_err(|e| RimFetchError::Store {
            id: id.to_owned(),
            reason: e.to_string(),
        })?;
    let entry = entries
        .into_iter()
        .next()
        .ok_or_else(|| RimFetchError::Store {
            id: id.to_owned(),
            reason: "the store reported nothing for the RIM".to_owned(),
        })?;
    Ok((entry, file))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn response(rim: &[u8]) -> serde_json::Value {
        serde_json::json!({
            "id": "NV_GPU_DRIVER_GH100_550.144.03",
            "rim": base64::engine::general_purpose::STANDARD.encode(rim),
            "sha256": hex::encode(Sha256::digest(rim)),
            "rim_format": "TCG",
            "last_updated": "2025-03-14T15:09:03.011000",
            "request_id": "r",
        })
    }

    const ID: &str = "NV_GPU_DRIVER_GH100_550.144.03";

    fn decode(value: &serde_json::Value) -> Result<Vec<u8>, RimFetchError> {
        decode_response(ID, value.to_string().as_bytes())
    }

    #[test]
    fn a_service_response_decodes_and_each_member_is_checked() {
        let doc = b"<SoftwareIdentity/>";
        assert_eq!(decode(&response(doc)).unwrap(), doc);
        // Optional members may be absent.
        let minimal = serde_json::json!({
            "rim": base64::engine::general_purpose::STANDARD.encode(doc)
        });
        assert_eq!(decode(&minimal).unwrap(), doc);

        let mut v = response(doc);
        v["id"] = "NV_GPU_DRIVER_GH100_535.86.09".into();
        assert!(matches!(
            decode(&v),
            Err(RimFetchError::IdMismatch { returned, .. }) if returned == "NV_GPU_DRIVER_GH100_535.86.09"
        ));
        let mut v = response(doc);
        v["sha256"] = hex::encode([0u8; 32]).into();
        assert!(matches!(decode(&v), Err(RimFetchError::Digest { .. })));
        let mut v = response(doc);
        v["rim_format"] = "CORIM".into();
        assert!(matches!(decode(&v), Err(RimFetchError::Format { .. })));
        let mut v = response(doc);
        v["rim"] = "not base64!".into();
        assert!(matches!(decode(&v), Err(RimFetchError::Base64 { .. })));
        let mut v = response(doc);
        v["rim"] = 7.into();
        assert_eq!(
            decode(&v),
            Err(RimFetchError::MissingRim { id: ID.to_owned() })
        );
        let mut v = response(doc);
        v["sha256"] = 7.into();
        assert_eq!(
            decode(&v),
            Err(RimFetchError::MemberType {
                id: ID.to_owned(),
                member: "sha256"
            })
        );
        assert!(matches!(
            decode_response(ID, b"<xml/>"),
            Err(RimFetchError::NotJson { .. })
        ));
        assert!(matches!(
            decode_response(ID, b"[1]"),
            Err(RimFetchError::NotJson { .. })
        ));
    }

    #[test]
    fn ids_that_are_not_plain_are_refused() {
        for id in [ID, "NV_GPU_VBIOS_1010_0200_882_96005E0001"] {
            assert_eq!(check_id(id), Ok(()));
        }
        for id in ["", "../x", "a/b", "a?b", "a b", ".hidden", &"A".repeat(129)] {
            assert!(
                matches!(check_id(id), Err(RimFetchError::InvalidId { .. })),
                "{id}"
            );
        }
    }

    #[test]
    fn the_service_key_is_never_printed() {
        let key = ServiceKey(Zeroizing::new("secret-token".to_owned()));
        assert!(!format!("{key:?}").contains("secret"));
    }
}
