//! Vendors for the benchmark's broker connections. A TOTP code is accepted once, so a vendor
//! can sign in about once per 30-second step; every broker connection therefore takes a
//! vendor of its own from the pool, enrolled beforehand, and no measurement waits for the
//! clock.

use crate::harness::broker::{self, Broker};
use crate::harness::vendor::Vendor;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;

/// Enrolled vendors, each with an approved request for the device, handed out in order.
pub struct Pool {
    vendors: Vec<Vendor>,
    next: AtomicUsize,
}

impl Pool {
    /// Enrols `n` vendors in parallel: key pair, `user add`, a request through the lobby for
    /// `device` (shell, files and the TCP `ports`), and its approval by `approver-N`.
    pub fn enroll(broker: &Broker, n: usize, device: &str, approver: &str, ports: &[u16]) -> Pool {
        let slots: Vec<Mutex<Option<Vendor>>> = (0..n).map(|_| Mutex::new(None)).collect();
        let next = Mutex::new(0usize);
        let addr = broker.ssh_addr();
        let tcp: String = ports.iter().map(|p| format!(" --tcp {p}")).collect();
        thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| loop {
                    let i = {
                        let mut next = next.lock().expect("lock");
                        let i = *next;
                        *next += 1;
                        i
                    };
                    if i >= n {
                        return;
                    }
                    let name = format!("bench-v{i:04}");
                    let mut vendor = Vendor::new(&name);
                    let info = broker.add_user(&name, "vendor", Some("bench-org"), Some(&vendor.public_key()));
                    vendor.set_totp(&info.totp_secret);
                    let out = vendor.exec(addr, &name, &[], &format!("request {device} --minutes 120 --shell --files{tcp} --reason 'benchmark run'"));
                    out.assert_success();
                    let id = broker::parse_request_id(&out.all_text()).unwrap_or_else(|| panic!("no request id in {}", out.describe()));
                    // One approver per vendor: each approval needs a fresh TOTP code, and one
                    // authenticator yields a new code only every 30 seconds.
                    let approver = format!("{approver}-{i}");
                    broker.add_user(&approver, "approver", None, None);
                    broker.cli_as(&approver, &["request", "approve", &id.to_string()]).assert_success();
                    *slots[i].lock().expect("lock") = Some(vendor);
                });
            }
        });
        let vendors = slots.into_iter().map(|s| s.into_inner().expect("lock").expect("enrolled")).collect();
        Pool { vendors, next: AtomicUsize::new(0) }
    }

    /// The next unused vendor.
    pub fn take(&self) -> &Vendor {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        self.vendors.get(i).unwrap_or_else(|| panic!("the benchmark needs more than the {} vendors enrolled", self.vendors.len()))
    }
}
