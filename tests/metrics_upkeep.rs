//! The metrics recorder lets go of its histogram samples on its own, without a scrape of
//! `/metrics`: a server that nobody scrapes must not grow by every request it answers.
//!
//! A binary of its own, because it counts the bytes the whole process holds: its allocator
//! counts them, and no other test runs beside this one.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

/// The system allocator, counting the bytes allocated and not yet freed.
struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        HELD.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: isize = 1 << 20;

#[test]
fn histogram_samples_are_let_go_without_a_scrape() {
    confab::metrics::handle();
    let before = HELD.load(Ordering::Relaxed);
    // What a million requests record, as fast as this thread goes (well within one upkeep).
    let histogram = metrics::histogram!(
        confab::metrics::REQUEST_SECONDS,
        "method" => "GET",
        "route" => "/v1/Conversations/{sid}"
    );
    for _ in 0..1_000_000 {
        histogram.record(0.001);
    }
    let recorded = HELD.load(Ordering::Relaxed) - before;
    // The recorder holds the samples until its upkeep: this shows the count sees them.
    assert!(
        recorded > 4 * MIB,
        "a million samples held only {recorded} bytes"
    );

    // Then a trickle, as a server answers a few requests now and then: the recorder frees what
    // its upkeep let go of as later samples come (it frees through an epoch-based collector).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        for _ in 0..1_000 {
            histogram.record(0.001);
        }
        let held = HELD.load(Ordering::Relaxed) - before;
        if held < MIB {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "15 s after a million samples (which took {recorded} bytes), the recorder still \
             holds {held} bytes of them"
        );
    }
}
