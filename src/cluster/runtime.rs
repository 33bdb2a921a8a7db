//! What the simulation replaces under a node, in one place; everywhere else it is tokio's or
//! the operating system's.
//!
//! * [`Runtime`]: openraft's async runtime. openraft draws its election timeouts and tick
//!   jitter from `AsyncRuntime::thread_rng`; tokio's runtime for openraft answers with the
//!   operating system's entropy, so two runs of one simulated schedule would elect at
//!   different moments. This one is tokio's in every other respect; its generator is seeded
//!   per thread from the operating system, unless [`seed`] set a seed for the thread (the
//!   simulation runs every node on one thread, and seeds it once per schedule).
//!   [`random_u64`] draws from the same generator (the store's incarnation).
//! * [`wall_ms`]: the wall clock (status, cycle reports); simulated time in the simulation.
//! * [`blocking`]: blocking work (the store's syncs), inline in the simulation.
//! * [`disk_fault`]: the simulation's failing disks; never a fault outside it.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::time::Duration;

use openraft::async_runtime::AsyncRuntime;
use openraft::rt::{OptionalSend, Select2, Select3, Select4};
use openraft_rt_tokio::TokioRuntime;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

thread_local! {
    /// The generator openraft draws from on this thread; `None` until first use or [`seed`].
    static RNG: RefCell<Option<SmallRng>> = const { RefCell::new(None) };
}

/// Seeds the generator of the calling thread: every later draw openraft makes on it follows
/// from `seed`. Only the simulation calls this.
#[cfg_attr(not(feature = "simulation"), allow(dead_code))]
pub fn seed(seed: u64) {
    RNG.with(|r| *r.borrow_mut() = Some(SmallRng::seed_from_u64(seed)));
}

/// A fresh generator for one draw, split off the thread's generator (so the sequence of
/// draws on a seeded thread is fixed by the seed).
fn next_rng() -> SmallRng {
    RNG.with(|r| {
        let mut r = r.borrow_mut();
        let parent = r.get_or_insert_with(|| SmallRng::seed_from_u64(rand::rng().random()));
        SmallRng::seed_from_u64(parent.random())
    })
}

/// A random u64 from the thread's generator (see [`seed`]).
pub fn random_u64() -> u64 {
    next_rng().random()
}

/// Milliseconds since the UNIX epoch on this node's wall clock: the system's, or in the
/// simulation the simulated one.
pub fn wall_ms() -> i64 {
    #[cfg(feature = "simulation")]
    if turmoil::in_simulation() {
        let offset = WALL_OFFSET_MS.with(|o| o.get());
        return turmoil::since_epoch().map_or(0, |d| d.as_millis() as i64) + offset;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

#[cfg(feature = "simulation")]
thread_local! {
    /// The simulation's jumps of the nodes' wall clocks (per thread: each thread runs its own
    /// simulation).
    static WALL_OFFSET_MS: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
    /// The data directories whose disk the simulation makes fail, and how.
    static FAILING_DISKS: RefCell<Vec<(std::path::PathBuf, io::ErrorKind)>> =
        const { RefCell::new(Vec::new()) };
}

/// Sets the simulated wall clocks' offset from simulated time.
#[cfg(feature = "simulation")]
pub fn set_wall_offset_ms(ms: i64) {
    WALL_OFFSET_MS.with(|o| o.set(ms));
}

/// Moves the simulated wall clocks by `ms`.
#[cfg(feature = "simulation")]
pub fn jump_wall_ms(ms: i64) {
    WALL_OFFSET_MS.with(|o| o.set(o.get() + ms));
}

/// Makes the disk of the data directory `dir` fail every sync with `kind` (`None`: work
/// again). The simulation's.
#[cfg(feature = "simulation")]
pub fn set_disk_fault(dir: &std::path::Path, kind: Option<io::ErrorKind>) {
    FAILING_DISKS.with(|d| {
        let mut d = d.borrow_mut();
        d.retain(|(p, _)| p != dir);
        if let Some(kind) = kind {
            d.push((dir.to_path_buf(), kind));
        }
    });
}

/// The simulated fault of the disk under `dir`, if the simulation set one; never outside it.
pub(crate) fn disk_fault(dir: &std::path::Path) -> io::Result<()> {
    #[cfg(feature = "simulation")]
    {
        let kind = FAILING_DISKS.with(|d| {
            d.borrow()
                .iter()
                .find(|(p, _)| dir.starts_with(p))
                .map(|(_, k)| *k)
        });
        if let Some(kind) = kind {
            return Err(io::Error::new(kind, "simulated disk fault"));
        }
    }
    let _ = dir;
    Ok(())
}

/// Runs the blocking `f` (a disk sync, opening the store) on tokio's blocking threads, so
/// that it does not hold up the node's other tasks; in the simulation, inline: a thread of
/// its own would finish at a moment of real time, and a replayed schedule would differ.
pub async fn blocking<F, T>(f: F) -> Result<T, tokio::task::JoinError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    #[cfg(feature = "simulation")]
    if turmoil::in_simulation() {
        return Ok(f());
    }
    tokio::task::spawn_blocking(f).await
}

/// Tokio, with [`seed`]-able randomness.
#[derive(Debug)]
pub struct Runtime(TokioRuntime);

impl AsyncRuntime for Runtime {
    type JoinError = <TokioRuntime as AsyncRuntime>::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = <TokioRuntime as AsyncRuntime>::JoinHandle<T>;
    type Sleep = <TokioRuntime as AsyncRuntime>::Sleep;
    type Instant = <TokioRuntime as AsyncRuntime>::Instant;
    type TimeoutError = <TokioRuntime as AsyncRuntime>::TimeoutError;
    type Timeout<R, T: Future<Output = R> + OptionalSend> =
        <TokioRuntime as AsyncRuntime>::Timeout<R, T>;
    type ThreadLocalRng = SmallRng;
    type Mpsc = <TokioRuntime as AsyncRuntime>::Mpsc;
    type Watch = <TokioRuntime as AsyncRuntime>::Watch;
    type Oneshot = <TokioRuntime as AsyncRuntime>::Oneshot;
    type Mutex<T: OptionalSend + 'static> = <TokioRuntime as AsyncRuntime>::Mutex<T>;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        TokioRuntime::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        TokioRuntime::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        TokioRuntime::sleep_until(deadline)
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        TokioRuntime::timeout(duration, future)
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        TokioRuntime::timeout_at(deadline, future)
    }

    fn select2<A, B>(
        a: A,
        b: B,
    ) -> impl Future<Output = Select2<A::Output, B::Output>> + OptionalSend
    where
        A: Future + OptionalSend,
        B: Future + OptionalSend,
    {
        TokioRuntime::select2(a, b)
    }

    fn select3<A, B, C>(
        a: A,
        b: B,
        c: C,
    ) -> impl Future<Output = Select3<A::Output, B::Output, C::Output>> + OptionalSend
    where
        A: Future + OptionalSend,
        B: Future + OptionalSend,
        C: Future + OptionalSend,
    {
        TokioRuntime::select3(a, b, c)
    }

    fn select4<A, B, C, D>(
        a: A,
        b: B,
        c: C,
        d: D,
    ) -> impl Future<Output = Select4<A::Output, B::Output, C::Output, D::Output>> + OptionalSend
    where
        A: Future + OptionalSend,
        B: Future + OptionalSend,
        C: Future + OptionalSend,
        D: Future + OptionalSend,
    {
        TokioRuntime::select4(a, b, c, d)
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        TokioRuntime::is_panic(join_error)
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        next_rng()
    }

    fn new(threads: usize) -> Self {
        Runtime(TokioRuntime::new(threads))
    }

    fn block_on<F, T>(&mut self, future: F) -> T
    where
        F: Future<Output = T>,
    {
        self.0.block_on(future)
    }

    async fn spawn_blocking<F, T>(f: F) -> Result<T, io::Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        blocking(f).await.map_err(io::Error::other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn a_seeded_thread_draws_the_same_sequence_every_time() {
        let draw = || {
            seed(42);
            (0..4)
                .map(|_| Runtime::thread_rng().random::<u64>())
                .collect::<Vec<_>>()
        };
        let first = std::thread::spawn(draw).join().unwrap();
        let second = std::thread::spawn(draw).join().unwrap();
        assert_eq!(first, second);
        assert_ne!(first[0], first[1]);
    }
}
