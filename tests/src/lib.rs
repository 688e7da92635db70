//! Shared helpers for the cross-crate tests: simulated SEV-SNP and TDX confidential VMs that bind
//! their evidence to a session exactly as the agent will, and the trust anchors and collateral
//! that accept it.

use std::sync::OnceLock;

use warden_evidence::UnixTime;
use warden_evidence::sim::snp::{AmdHierarchy, ReportBuilder, SimError, VekProfile};
use warden_evidence::sim::tdx::{
    CollateralProfile, IntelHierarchy, PlatformProfile, SimCollateral, SimPlatform, TdProfile,
};
use warden_evidence::snp::{Product, ProductRoots, TrustAnchors};
use warden_proto::binding::{self, ModelManifest, Nonce, TeePublicKey};
use warden_proto::v1;

/// Trust anchors for the shared simulated hierarchies of every product.
pub fn simulated_anchors() -> TrustAnchors {
    Product::ALL
        .into_iter()
        .fold(TrustAnchors::new(), |anchors, product| {
            let h = AmdHierarchy::shared(product);
            anchors.with(
                product,
                ProductRoots {
                    ark: h.ark_der().to_vec(),
                    ask: Some(h.ask_der().to_vec()),
                    asvk: Some(h.asvk_der().to_vec()),
                    crls: Vec::new(),
                },
            )
        })
}

/// What a simulated CVM puts on the wire for one session: the evidence bundle with a VCEK-signed
/// SNP report whose REPORT_DATA binds the nonce, the TEE key, the model and the GPU evidence.
pub fn simulated_snp_bundle(
    product: Product,
    nonce: &Nonce,
    tee_pubkey: &TeePublicKey,
    model: &ModelManifest,
    gpus: Vec<v1::GpuEvidence>,
) -> Result<v1::EvidenceBundle, SimError> {
    let digests: Vec<_> = gpus
        .iter()
        .map(|g| binding::gpu_digest(&g.report, &g.certificate_chain))
        .collect();
    let mut builder = ReportBuilder::new(product);
    builder.report_data = binding::report_data(nonce, tee_pubkey, &model.digest(), &digests);
    let vcek = AmdHierarchy::shared(product).issue_vek(&VekProfile::vcek(
        product,
        &builder.chip_id,
        builder.reported_tcb,
    ))?;
    let mut report = builder.build();
    vcek.sign_report(&mut report)?;
    Ok(v1::EvidenceBundle {
        nonce: nonce.as_bytes().to_vec(),
        cpu: Some(v1::CpuEvidence {
            tee: v1::Tee::SevSnp.into(),
            report: report.to_vec(),
            certificates: vcek.der().to_vec(),
        }),
        gpus,
        model: Some(model.into()),
        tee_pubkey: tee_pubkey.as_bytes().to_vec(),
        model_signature: Vec::new(),
    })
}

/// The shared simulated TDX platform (default profile) of [`IntelHierarchy::shared`].
pub fn simulated_tdx_platform() -> Result<&'static SimPlatform, SimError> {
    static PLATFORM: OnceLock<SimPlatform> = OnceLock::new();
    if let Some(platform) = PLATFORM.get() {
        return Ok(platform);
    }
    let platform = IntelHierarchy::shared().platform(&PlatformProfile::default())?;
    Ok(PLATFORM.get_or_init(|| platform))
}

/// Signed collateral of the shared simulated hierarchy, valid from a day before `now` for 30
/// days.
pub fn simulated_tdx_collateral(now: UnixTime) -> Result<SimCollateral, SimError> {
    IntelHierarchy::shared().collateral(&CollateralProfile::valid_at(now))
}

/// The bundle of a simulated TDX CVM for one session: a v4 quote of `td` whose REPORT_DATA binds
/// the nonce, the TEE key and the model.
pub fn simulated_tdx_bundle(
    td: &TdProfile,
    nonce: &Nonce,
    tee_pubkey: &TeePublicKey,
    model: &ModelManifest,
) -> Result<v1::EvidenceBundle, SimError> {
    let report_data = binding::report_data(nonce, tee_pubkey, &model.digest(), &[]);
    let quote = simulated_tdx_platform()?.quote(td, &report_data)?;
    Ok(v1::EvidenceBundle {
        nonce: nonce.as_bytes().to_vec(),
        cpu: Some(v1::CpuEvidence {
            tee: v1::Tee::Tdx.into(),
            report: quote,
            certificates: Vec::new(),
        }),
        gpus: Vec::new(),
        model: Some(model.into()),
        tee_pubkey: tee_pubkey.as_bytes().to_vec(),
        model_signature: Vec::new(),
    })
}

/// A verifier serving real gRPC on 127.0.0.1 with a fresh state directory, a pinned clock and
/// every decision recorded, for the end-to-end tests.
// Test support: a setup failure must stop the test loudly, so it panics.
#[allow(clippy::expect_used, clippy::panic)]
pub mod harness {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;
    use warden_evidence::UnixTime;
    use warden_evidence::nvidia::rim::RimVerifier;
    use warden_evidence::sim::nvidia::{Arch, DeviceHierarchy, GpuProfile, RimHierarchy};
    use warden_evidence::sim::tdx::IntelHierarchy;
    use warden_evidence::tdx::CollateralItem;
    use warden_proto::v1::AttestRequest;
    use warden_proto::v1::verifier_client::VerifierClient;
    use warden_verifier::collateral::CollateralCache;
    use warden_verifier::config::RimFetchConfig;
    use warden_verifier::gpu::GpuJudge;
    use warden_verifier::keys::{KeyBroker, KeyId, KeyMaterial, MasterKey};
    use warden_verifier::policy::PolicySet;
    use warden_verifier::rim_fetch::RimClient;
    use warden_verifier::rims::{RimFile, RimStore};
    use warden_verifier::service::{
        self, AttestError, CORRELATION_ID_HEADER, Clock, DecisionRecord, Limits, SnpJudge,
        VerifierState,
    };
    use warden_verifier::store::Store;
    use warden_verifier::tdx::TdxJudge;

    /// 2026-01-01T00:00:00Z: inside every simulated certificate's validity.
    pub const START: UnixTime = UnixTime(1_767_225_600);

    /// A clock the test moves by hand.
    #[derive(Debug)]
    pub struct ManualClock(AtomicI64);

    impl ManualClock {
        /// Moves the clock forward.
        pub fn advance(&self, secs: i64) {
            self.0.fetch_add(secs, Ordering::SeqCst);
        }

        /// Sets the clock.
        pub fn set(&self, t: UnixTime) {
            self.0.store(t.0, Ordering::SeqCst);
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> UnixTime {
            UnixTime(self.0.load(Ordering::SeqCst))
        }
    }

    /// How to build the verifier under test.
    #[derive(Debug, Clone)]
    pub struct Options {
        /// Trust the shared simulated hierarchies as `insecure_test_roots`.
        pub test_roots: bool,
        /// Policies from this directory instead of the built-in ones.
        pub policy_dir: Option<PathBuf>,
        /// Nonce lifetime.
        pub nonce_ttl: Duration,
        /// Import the shared simulated TDX collateral, valid at [`START`], into the cache.
        pub tdx_collateral: bool,
        /// Trust the shared simulated NVIDIA device root (Hopper) and RIM root as insecure test
        /// roots, and import the RIMs of `GpuProfile::hopper()` into the RIM store.
        pub simulated_gpus: bool,
        /// Fetch missing RIMs from this RIM service (`[gpu_rims]`); with `simulated_gpus`, the
        /// simulated RIMs are then not imported, so that they must be fetched.
        pub rim_fetch: Option<RimFetchConfig>,
        /// GPU certificate revocation: `stapled` (the default, as in production), with `good`
        /// responses of the simulated CoRIM responder for the simulated RIMs' chains in the OCSP
        /// cache (valid at [`START`]); or `off`.
        pub gpu_revocation: warden_verifier::revocation::RevocationMode,
    }

    impl Default for Options {
        fn default() -> Self {
            Self {
                test_roots: true,
                policy_dir: None,
                nonce_ttl: Duration::from_secs(120),
                tdx_collateral: true,
                simulated_gpus: true,
                rim_fetch: None,
                gpu_revocation: warden_verifier::revocation::RevocationMode::Stapled,
            }
        }
    }

    /// A running verifier.
    pub struct TestVerifier {
        /// `http://127.0.0.1:PORT`.
        pub url: String,
        /// The verifier's clock.
        pub clock: Arc<ManualClock>,
        /// The verifier's state.
        pub state: Arc<VerifierState>,
        records: Arc<Mutex<Vec<DecisionRecord>>>,
        stop: Option<oneshot::Sender<()>>,
        server: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
        _dir: tempfile::TempDir,
    }

    impl TestVerifier {
        /// Starts a verifier with `options`.
        pub async fn start(options: Options) -> Self {
            let dir = tempfile::tempdir().expect("temporary directory");
            let store = Arc::new(Store::open(&dir.path().join("state")).expect("store"));
            let (master, _) =
                MasterKey::load_or_create(&dir.path().join("state/master.key")).expect("master");
            let broker = KeyBroker::new(Arc::clone(&store), master);
            let policies = match &options.policy_dir {
                Some(dir) => PolicySet::load_dir(dir).expect("policies"),
                None => PolicySet::builtin().expect("built-in policies"),
            };
            let mut judge = SnpJudge::new(warden_verifier::roots::amd());
            if options.test_roots {
                judge = judge.with_insecure_test_roots(super::simulated_anchors());
            }
            let cache =
                Arc::new(CollateralCache::open(Arc::clone(&store)).expect("collateral cache"));
            if options.tdx_collateral {
                let collateral = super::simulated_tdx_collateral(START).expect("sim collateral");
                let mut items = Vec::new();
                for (name, bytes) in collateral.files() {
                    for item in CollateralItem::parse_file(&bytes).expect("sim collateral parses") {
                        items.push((format!("sim:{name}"), item));
                    }
                }
                cache.import(items, START).expect("import sim collateral");
            }
            let mut tdx = TdxJudge::new(warden_verifier::roots::intel_sgx_root_ca(), cache);
            if options.test_roots {
                tdx = tdx.with_insecure_test_roots(vec![
                    IntelHierarchy::shared().root_ca_der().to_vec(),
                ]);
            }
            let rims = RimStore::new(Arc::clone(&store));
            let mut gpu = GpuJudge::pinned(RimStore::new(Arc::clone(&store)));
            if options.simulated_gpus && options.rim_fetch.is_none() {
                let rim_root = RimHierarchy::shared().root_der().to_vec();
                let sim = RimHierarchy::shared()
                    .rims_for(&GpuProfile::hopper())
                    .expect("simulated RIMs");
                let verifier = RimVerifier::new(rim_root);
                let files = [(sim.driver_id, sim.driver), (sim.vbios_id, sim.vbios)]
                    .into_iter()
                    .map(|(id, body)| RimFile {
                        source: format!("sim:{id}"),
                        rim: verifier
                            .verify(START, &body)
                            .expect("simulated RIM verifies"),
                        id,
                        body,
                    })
                    .collect();
                rims.import(files, START).expect("import simulated RIMs");
            }
            if options.simulated_gpus {
                let rim_root = RimHierarchy::shared().root_der().to_vec();
                gpu = gpu
                    .with_insecure_test_roots(vec![
                        DeviceHierarchy::shared(Arch::Hopper).root_der().to_vec(),
                    ])
                    .with_insecure_rim_test_roots(vec![rim_root]);
            }
            if let Some(fetch) = &options.rim_fetch {
                gpu = gpu.with_rim_fetcher(RimClient::new(fetch).expect("RIM client"));
            }
            let ocsp = warden_verifier::revocation::OcspCache::new(Arc::clone(&store));
            if options.simulated_gpus {
                // The RIM chains' responses, as an operator imports them for `stapled`.
                let sim = RimHierarchy::shared()
                    .rims_for(&GpuProfile::hopper())
                    .expect("simulated RIMs");
                let spec = warden_evidence::sim::nvidia::OcspSpec::good_at(START);
                for rim in [&sim.driver, &sim.vbios] {
                    for response in RimHierarchy::shared().staple(rim, &spec).expect("staple") {
                        ocsp.import("sim:rim-ocsp", &response, START)
                            .expect("OCSP cache")
                            .expect("simulated OCSP response");
                    }
                }
            }
            gpu = gpu.with_revocation(match options.gpu_revocation {
                warden_verifier::revocation::RevocationMode::Off => {
                    warden_verifier::revocation::Revocation::off()
                }
                _ => warden_verifier::revocation::Revocation::stapled(Some(ocsp)),
            });
            let clock = Arc::new(ManualClock(AtomicI64::new(START.0)));
            let records: Arc<Mutex<Vec<DecisionRecord>>> = Arc::default();
            let sink = Arc::clone(&records);
            let state = Arc::new(
                VerifierState::new(
                    store,
                    broker,
                    Arc::new(policies),
                    judge,
                    options.nonce_ttl,
                    Arc::clone(&clock) as Arc<dyn Clock>,
                )
                .with_tdx(tdx)
                .with_gpu(gpu)
                .with_observer(Arc::new(move |r| {
                    sink.lock().expect("records").push(r.clone())
                })),
            );
            let listener = service::bind(([127, 0, 0, 1], 0).into())
                .await
                .expect("bind loopback");
            let url = format!("http://{}", listener.local_addr().expect("address"));
            let (stop, stopped) = oneshot::channel::<()>();
            let limits = Limits {
                max_message_bytes: 4 << 20,
                request_timeout: Duration::from_secs(30),
                concurrency_per_connection: 256,
            };
            let server = tokio::spawn(service::serve(
                Arc::clone(&state),
                limits,
                listener,
                async {
                    let _ = stopped.await;
                },
            ));
            Self {
                url,
                clock,
                state,
                records,
                stop: Some(stop),
                server: Some(server),
                _dir: dir,
            }
        }

        /// Adds a key with fresh material under `policy`; returns a copy of the material.
        pub fn add_key(&self, id: &str, policy: &str) -> Vec<u8> {
            let material = KeyMaterial::generate().expect("material");
            let copy = material.expose().to_vec();
            self.state
                .broker()
                .add(
                    &KeyId::parse(id).expect("key id"),
                    policy,
                    material,
                    self.clock.now(),
                )
                .expect("add key");
            copy
        }

        /// The decision recorded under `correlation_id`.
        pub fn record(&self, correlation_id: &str) -> DecisionRecord {
            self.records
                .lock()
                .expect("records")
                .iter()
                .find(|r| r.correlation_id == correlation_id)
                .cloned()
                .unwrap_or_else(|| panic!("no decision recorded under {correlation_id}"))
        }

        /// Sends `request`, expects a refusal with `code` carrying the correlation id (in the
        /// metadata and the message), and returns the refusal recorded under that id.
        pub async fn refused(
            &self,
            client: &mut VerifierClient<tonic::transport::Channel>,
            request: AttestRequest,
            code: tonic::Code,
        ) -> AttestError {
            let status = client.attest(request).await.expect_err("a refusal");
            assert_eq!(status.code(), code, "{status:?}");
            let id = status
                .metadata()
                .get(CORRELATION_ID_HEADER)
                .expect("correlation id on every refusal")
                .to_str()
                .expect("ASCII correlation id")
                .to_owned();
            assert!(status.message().contains(&id), "{}", status.message());
            self.record(&id).refusal.expect("a refusal was recorded")
        }

        /// Every decision so far.
        pub fn records(&self) -> Vec<DecisionRecord> {
            self.records.lock().expect("records").clone()
        }

        /// Stops the server and waits for it.
        pub async fn stop(mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            if let Some(server) = self.server.take() {
                server.await.expect("server task").expect("server");
            }
        }
    }
}
