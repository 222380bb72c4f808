//! Cost of checking osprofiler trace headers on a request: a valid signature (first and
//! second of two keys), a wrong one, and no headers at all (the path every unsigned request
//! takes when profiling is on).
//!
//! `cargo bench --bench trace_headers`

use criterion::{criterion_group, criterion_main, Criterion};
use zaqar::conf::HmacKeys;
use zaqar::profiler::hmac::{sign, verify, Keys};

fn headers(c: &mut Criterion) {
    let base = "5f8e0c2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let (info, tag) = sign(base, base, "SECRET_KEY");
    let (_, wrong) = sign(base, base, "NOT_THE_KEY");
    let one = Keys::new(&HmacKeys::parse("SECRET_KEY").0);
    let two = Keys::new(&HmacKeys::parse("old-key, SECRET_KEY").0);
    c.bench_function("verify: valid, first key", |b| {
        b.iter(|| verify(Some(&info), Some(&tag), &one).unwrap())
    });
    c.bench_function("verify: valid, second key", |b| {
        b.iter(|| verify(Some(&info), Some(&tag), &two).unwrap())
    });
    c.bench_function("verify: wrong signature", |b| {
        b.iter(|| verify(Some(&info), Some(&wrong), &two).is_none())
    });
    c.bench_function("verify: no headers", |b| {
        b.iter(|| verify(None, None, &two).is_none())
    });
}

criterion_group!(benches, headers);
criterion_main!(benches);
