//! In-kernel tests, registered without nightly features: each `ktest!` puts a `KTest` in the
//! `.ktests` link section, and the runner walks the section (the Asterinas `#[ktest]` pattern).
//!
//! Protocol with `cargo xtask test`: `test=all` runs every test that returns, printing
//! `ktest: <name> ... ok|FAILED`, then one `ktest: should_panic <name>` line per test that must
//! end in a panic, then `ktest: N passed, N failed`, and exits with the verdict.
//! `test=<name>` runs one test; a should-panic test passes when the panic message contains its
//! expected text (`ktest: <name> ... ok (panicked as expected)`).

mod cases;

use crate::qemu_exit::{exit, ExitCode};
use core::sync::atomic::{AtomicPtr, Ordering};

pub struct Failure {
    pub file: &'static str,
    pub line: u32,
    pub message: &'static str,
}

pub type Outcome = Result<(), Failure>;

#[repr(C)]
pub struct KTest {
    pub name: &'static str,
    pub run: fn() -> Outcome,
    pub should_panic: Option<&'static str>,
}

/// Registers a kernel test; `should_panic = "text"` marks one that must panic with `text`.
#[macro_export]
macro_rules! ktest {
    ($(#[should_panic = $expect:literal])? fn $name:ident() $body:block) => {
        fn $name() -> $crate::ktest::Outcome {
            $body
            #[allow(unreachable_code)]
            Ok(())
        }
        const _: () = {
            #[link_section = ".ktests"]
            #[used]
            static TEST: $crate::ktest::KTest = $crate::ktest::KTest {
                name: stringify!($name),
                run: $name,
                should_panic: $crate::__ktest_expect!($($expect)?),
            };
        };
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __ktest_expect {
    () => {
        None
    };
    ($e:literal) => {
        Some($e)
    };
}

/// Fails the test (returns from it) when the condition is false.
#[macro_export]
macro_rules! check {
    ($cond:expr, $msg:literal) => {
        if !$cond {
            return Err($crate::ktest::Failure {
                file: file!(),
                line: line!(),
                message: $msg,
            });
        }
    };
}

extern "C" {
    static __ktests_start: u8;
    static __ktests_end: u8;
}

fn all() -> &'static [KTest] {
    // SAFETY: the linker bounds an array of `KTest` statics in .ktests (8-aligned, whole).
    unsafe {
        let start = core::ptr::addr_of!(__ktests_start) as *const KTest;
        let end = core::ptr::addr_of!(__ktests_end) as *const KTest;
        core::slice::from_raw_parts(start, end.offset_from(start) as usize)
    }
}

static RUNNING: AtomicPtr<KTest> = AtomicPtr::new(core::ptr::null_mut());

fn run_one(t: &'static KTest) -> bool {
    RUNNING.store(t as *const KTest as *mut KTest, Ordering::Release);
    let r = (t.run)();
    RUNNING.store(core::ptr::null_mut(), Ordering::Release);
    match r {
        Ok(()) => {
            crate::kprintln!("ktest: {} ... ok", t.name);
            true
        }
        Err(f) => {
            crate::kprintln!(
                "ktest: {} ... FAILED at {}:{}: {}",
                t.name,
                f.file,
                f.line,
                f.message
            );
            false
        }
    }
}

pub fn run_all() -> ! {
    let (mut passed, mut failed) = (0, 0);
    for t in all().iter().filter(|t| t.should_panic.is_none()) {
        if run_one(t) {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    for t in all().iter().filter(|t| t.should_panic.is_some()) {
        crate::kprintln!("ktest: should_panic {}", t.name);
    }
    crate::kprintln!("ktest: {passed} passed, {failed} failed");
    exit(if failed == 0 {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}

pub fn run_named(name: &str) -> ! {
    let Some(t) = all().iter().find(|t| t.name == name) else {
        crate::kprintln!("ktest: no test named {name}");
        exit(ExitCode::Failure)
    };
    let ok = run_one(t);
    if t.should_panic.is_some() {
        crate::kprintln!(
            "ktest: {} ... FAILED: returned without the expected panic",
            t.name
        );
        exit(ExitCode::Failure);
    }
    exit(if ok {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}

/// Called by the panic handler: true (and reported) if the running test expected this panic.
pub fn panic_expected(message: &str) -> bool {
    // SAFETY: RUNNING is null or points at a 'static KTest in .ktests.
    let Some(t) = (unsafe { RUNNING.load(Ordering::Acquire).as_ref() }) else {
        return false;
    };
    match t.should_panic {
        Some(expect) if message.contains(expect) => {
            crate::console::emergency_write(format_args!(
                "ktest: {} ... ok (panicked as expected)\n",
                t.name
            ));
            true
        }
        Some(expect) => {
            crate::console::emergency_write(format_args!(
                "ktest: {} ... FAILED: panic did not contain {expect:?}\n",
                t.name
            ));
            false
        }
        None => {
            crate::console::emergency_write(format_args!("ktest: {} ... FAILED (panic)\n", t.name));
            false
        }
    }
}
