//! CPU priority of the background workers.
//!
//! A store's platform waits for each webhook's acknowledgement (Shopify
//! gives up after five seconds and retries, and removes a subscription that
//! keeps failing); nobody waits for the engine to apply an accepted event a
//! few milliseconds sooner. When the cores are busy, the kernel should
//! therefore run the threads that acknowledge first. The workers that apply
//! the inbox, fire timers and deliver the outbox lower their own priority
//! (a higher nice value); the accepted work they hold is durable, so a
//! worker that runs later loses nothing, and it catches up when the
//! acknowledgements leave it the CPU.

/// How far below the acknowledging threads the background workers run:
/// ten nice steps is about a tenth of their CPU share when both want a core
/// (and all of it when the acknowledgers are idle).
pub const BACKGROUND_NICE_STEPS: i32 = 10;

/// Lowers the calling thread's CPU priority by [`BACKGROUND_NICE_STEPS`]
/// below the process's (at most to 19, the lowest).
///
/// On Linux a nice value belongs to a thread (`setpriority` with the
/// thread id); elsewhere this does nothing. A failure is returned for the
/// caller to log: the worker still runs, at the process's priority.
pub fn lower_this_thread() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getpid, gettid, getpriority and setpriority take plain
        // integers and touch no memory of ours.
        let rc = unsafe {
            let process = nice_of(libc::PRIO_PROCESS, libc::getpid() as libc::id_t)?;
            let nice = (process + BACKGROUND_NICE_STEPS).min(19);
            libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice)
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// getpriority, whose -1 is both a nice value and its error.
#[cfg(target_os = "linux")]
unsafe fn nice_of(which: libc::__priority_which_t, who: libc::id_t) -> std::io::Result<i32> {
    // SAFETY: errno is this thread's; getpriority takes plain integers.
    unsafe {
        *libc::__errno_location() = 0;
        let nice = libc::getpriority(which, who);
        if nice == -1 && *libc::__errno_location() != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(nice)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_background_thread_runs_ten_nice_steps_below_the_process_and_others_do_not() {
        let nice_of = |tid: i32| -> i32 {
            // The 19th field of /proc/<pid>/task/<tid>/stat is the nice value.
            let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
            let after_name = &stat[stat.rfind(')').unwrap() + 2..];
            after_name.split(' ').nth(16).unwrap().parse().unwrap()
        };
        let process = nice_of(std::process::id() as i32);
        let (lowered, normal) = std::thread::scope(|s| {
            let lowered = s.spawn(|| {
                lower_this_thread().unwrap();
                nice_of(unsafe { libc::gettid() })
            });
            let normal = s.spawn(|| nice_of(unsafe { libc::gettid() }));
            (lowered.join().unwrap(), normal.join().unwrap())
        });
        assert_eq!(lowered, (process + BACKGROUND_NICE_STEPS).min(19));
        assert_eq!(normal, process);
    }
}
