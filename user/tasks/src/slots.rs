//! The capability slots a task uses. A capability space has 64 slots, and the home process
//! (the program starting the task) has few to spare, so the home keeps the task's objects in
//! one capability page (`TASK_CAPS`) and loads each into a working slot when it needs it; the
//! VPs' own spaces hold what runtime code on a VP calls (its alarm, every VP's endpoint).
//!
//! Assumes: the home uses none of its slots here for anything else while a task runs.

/// Most VPs one task may have.
pub const MAX_VPS: usize = 8;

/// Home: the filing directory being filled: a capability page of capability pages.
pub const CAP_DIR: u8 = 57;
/// Home: the task's bank; every object of the task comes from it and goes back to it.
pub const TASK_BANK: u8 = 58;
/// Home: where an object is created before it is filed.
pub const TMP: u8 = 59;
/// Home: the resume capability of the fault message being handled.
pub const RESUME: u8 = 60;
/// Home: the capability page filing the task's processes, alarms and filing directories.
pub const TASK_CAPS: u8 = 61;
/// Home: the capability page the task's memory pages are being filed in (one entry of a
/// directory).
pub const CAP_PAGE: u8 = 62;
/// Home: a VP's process, loaded from `TASK_CAPS` for an order on it.
pub const PROCESS: u8 = 63;

/// `TASK_CAPS` entry of VP `vp`'s process.
pub const fn process_entry(vp: usize) -> u64 {
    vp as u64
}

/// `TASK_CAPS` entry of VP `vp`'s alarm.
pub const fn alarm_entry(vp: usize) -> u64 {
    (MAX_VPS + vp) as u64
}

/// Most filing directories (each files 64 capability pages of 64 memory pages: 4,096 pages).
pub const CAP_PAGES: usize = 32;

/// `TASK_CAPS` entry of filing directory `k`.
pub const fn cap_page_entry(k: usize) -> u64 {
    (2 * MAX_VPS + k) as u64
}

/// VP: its own alarm.
pub const ALARM: u8 = 16;
/// VP: an endpoint to the home process whose badge names the VP.
pub const HOME: u8 = 17;

/// VP: slots the home fills with `Task::give_cap` for its chores (after every VP endpoint).
pub const GIVEN: core::ops::Range<u8> = 40..48;

/// VP: an endpoint to VP `vp` (its wake-up POSTs and its alarm's).
pub const fn vp_endpoint(vp: usize) -> u8 {
    24 + vp as u8
}
