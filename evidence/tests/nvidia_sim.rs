//! The simulated GPU through the real verifier: reports of the generated device hierarchy verify
//! with `GpuVerifier` pinned to the simulated root, and each fault the simulator can inject is
//! refused with its specific error (the seam between the two halves of issue #5).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use warden_evidence::UnixTime;
use warden_evidence::nvidia::{GpuArch, GpuError, GpuVerifier};
use warden_evidence::sim::nvidia::{Arch, DeviceHierarchy, GpuProfile, ReportFaults};

const NOW: UnixTime = UnixTime(1_767_225_600);
const NONCE: [u8; 32] = [0x42; 32];

fn check(arch: Arch, faults: &ReportFaults) -> Result<GpuArch, GpuError> {
    let hierarchy = DeviceHierarchy::shared(arch);
    let gpu = hierarchy.gpu(GpuProfile::for_arch(arch)).unwrap();
    let report = gpu.report_with(&NONCE, faults).unwrap();
    GpuVerifier::new(hierarchy.root_der().to_vec())
        .verify(NOW, &report, gpu.chain_pem().as_bytes(), &NONCE)
        .map(|v| v.arch)
}

#[test]
fn simulated_reports_verify_and_faults_are_refused() {
    for arch in [Arch::Hopper, Arch::Blackwell] {
        let verified = check(arch, &ReportFaults::default());
        assert!(verified.is_ok(), "{arch:?}: {verified:?}");
        let fault = |f: ReportFaults| check(arch, &f).unwrap_err();
        assert_eq!(
            fault(ReportFaults {
                corrupt_signature: true,
                ..ReportFaults::default()
            }),
            GpuError::Signature
        );
        assert_eq!(
            fault(ReportFaults {
                request_nonce: Some([7; 32]),
                ..ReportFaults::default()
            }),
            GpuError::NonceMismatch
        );
        assert_eq!(
            fault(ReportFaults {
                duplicate_opaque: Some(3),
                ..ReportFaults::default()
            }),
            GpuError::DuplicateOpaqueType(3)
        );
        assert_eq!(
            fault(ReportFaults {
                fwid_tlv: Some([9; 48]),
                ..ReportFaults::default()
            }),
            GpuError::FwidMismatch
        );
        assert_eq!(
            fault(ReportFaults {
                trailing: vec![0],
                ..ReportFaults::default()
            }),
            GpuError::TrailingBytes(1)
        );
    }
    // Another hierarchy's root does not anchor the simulated chain.
    let gpu = DeviceHierarchy::shared(Arch::Hopper)
        .gpu(GpuProfile::hopper())
        .unwrap();
    let report = gpu.report(&NONCE).unwrap();
    let other = DeviceHierarchy::generate(Arch::Hopper, 99);
    assert_eq!(
        GpuVerifier::new(other.root_der().to_vec())
            .verify(NOW, &report, gpu.chain_pem().as_bytes(), &NONCE)
            .unwrap_err(),
        GpuError::UntrustedRoot
    );
}
