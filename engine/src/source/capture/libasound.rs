//! libasound, loaded from the system when the ALSA host is first opened, not linked.
//!
//! A prebuilt engine must start where libasound.so.2 is absent (a container that only
//! reads files, a host that only mirrors rings over the network), and a manylinux
//! wheel may not need it: auditwheel allows no libasound. Grafting a copy into the
//! wheel would be worse than either: ALSA's own plugins (pulse, pipewire) link the
//! system's libasound and would meet a second one in the same process. So nothing
//! links libasound (`.cargo/config.toml` overrides alsa-sys's build script, which also
//! means building needs no libasound2-dev); each `snd_*` function cpal's ALSA host
//! calls is defined here as a trampoline, one indirect jump through [`TABLE`], which
//! [`load`] fills from the system's libasound.so.2 with `dlsym`. A function missing
//! from the list below fails the link ("undefined reference to `snd_...`"), so the
//! list cannot silently fall behind cpal.

use std::ffi::{c_void, CStr};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

/// The library's soname: the ABI every ALSA since 1.0 provides.
const SONAME: &CStr = c"libasound.so.2";

/// Defines the trampolines, their names and their slots in [`TABLE`].
macro_rules! trampolines {
    ($($name:ident)*) => {
        /// Each function's slot in [`TABLE`].
        #[allow(non_camel_case_types, dead_code)]
        #[repr(usize)]
        enum Slot { $($name,)* Count }

        /// The functions' names, in slot order.
        const NAMES: [&str; Slot::Count as usize] = [$(concat!(stringify!($name), "\0"),)*];

        $(trampoline!($name);)*
    };
}

/// One trampoline: jumps to the address in its slot, leaving every argument register
/// (and the stack) as the caller set them, so one shape serves every signature.
macro_rules! trampoline {
    ($name:ident) => {
        std::arch::global_asm!(
            concat!(".pushsection .text.v2m_alsa.", stringify!($name), ",\"ax\",%progbits"),
            concat!(".globl ", stringify!($name)),
            concat!(".type ", stringify!($name), ",%function"),
            concat!(stringify!($name), ":"),
            jump_through_slot!(),
            concat!(".size ", stringify!($name), ", . - ", stringify!($name)),
            ".popsection",
            table = sym TABLE,
            offset = const Slot::$name as usize * std::mem::size_of::<usize>(),
        );
    };
}

/// The jump itself, the one part each architecture writes its own way.
#[cfg(target_arch = "x86_64")]
macro_rules! jump_through_slot {
    () => {
        "jmp qword ptr [rip + {table} + {offset}]"
    };
}

/// The jump (x16 is the scratch register the ABI gives veneers).
#[cfg(target_arch = "aarch64")]
macro_rules! jump_through_slot {
    () => {
        "adrp x16, {table} + {offset}\nldr x16, [x16, :lo12:{table} + {offset}]\nbr x16"
    };
}

// What cpal's ALSA host (through the alsa crate) calls.
trampolines! {
    snd_card_next
    snd_config_update
    snd_config_update_free_global
    snd_ctl_card_info
    snd_ctl_card_info_free
    snd_ctl_card_info_get_name
    snd_ctl_card_info_malloc
    snd_ctl_close
    snd_ctl_open
    snd_ctl_pcm_info
    snd_ctl_pcm_next_device
    snd_device_name_free_hint
    snd_device_name_get_hint
    snd_device_name_hint
    snd_pcm_avail_delay
    snd_pcm_bytes_to_frames
    snd_pcm_close
    snd_pcm_format_physical_width
    snd_pcm_get_params
    snd_pcm_hw_params
    snd_pcm_hw_params_any
    snd_pcm_hw_params_can_resume
    snd_pcm_hw_params_copy
    snd_pcm_hw_params_current
    snd_pcm_hw_params_free
    snd_pcm_hw_params_get_buffer_size_max
    snd_pcm_hw_params_get_channels_max
    snd_pcm_hw_params_get_channels_min
    snd_pcm_hw_params_get_period_size
    snd_pcm_hw_params_get_period_size_max
    snd_pcm_hw_params_get_period_size_min
    snd_pcm_hw_params_get_rate_max
    snd_pcm_hw_params_get_rate_min
    snd_pcm_hw_params_malloc
    snd_pcm_hw_params_set_access
    snd_pcm_hw_params_set_buffer_size_near
    snd_pcm_hw_params_set_channels
    snd_pcm_hw_params_set_format
    snd_pcm_hw_params_set_period_size_near
    snd_pcm_hw_params_set_rate
    snd_pcm_hw_params_supports_audio_ts_type
    snd_pcm_hw_params_test_channels
    snd_pcm_hw_params_test_format
    snd_pcm_hw_params_test_rate
    snd_pcm_info
    snd_pcm_info_free
    snd_pcm_info_get_name
    snd_pcm_info_get_stream
    snd_pcm_info_malloc
    snd_pcm_info_set_device
    snd_pcm_info_set_stream
    snd_pcm_info_set_subdevice
    snd_pcm_open
    snd_pcm_pause
    snd_pcm_poll_descriptors
    snd_pcm_poll_descriptors_count
    snd_pcm_poll_descriptors_revents
    snd_pcm_prepare
    snd_pcm_readi
    snd_pcm_resume
    snd_pcm_start
    snd_pcm_state
    snd_pcm_status
    snd_pcm_status_get_audio_htstamp
    snd_pcm_status_get_htstamp
    snd_pcm_status_get_state
    snd_pcm_status_get_trigger_htstamp
    snd_pcm_status_set_audio_htstamp_config
    snd_pcm_status_sizeof
    snd_pcm_sw_params
    snd_pcm_sw_params_current
    snd_pcm_sw_params_free
    snd_pcm_sw_params_malloc
    snd_pcm_sw_params_set_avail_min
    snd_pcm_sw_params_set_start_threshold
    snd_pcm_sw_params_set_tstamp_mode
    snd_pcm_sw_params_set_tstamp_type
}

/// Where each trampoline jumps: [`not_loaded`] until [`load`] succeeds, then the
/// library's function. Written once, before cpal's ALSA host exists; read by the
/// trampolines with a plain load.
static TABLE: [AtomicPtr<c_void>; Slot::Count as usize] =
    [const { AtomicPtr::new(not_loaded as *mut c_void) }; Slot::Count as usize];

/// A trampoline called before [`load`]: a bug in the engine, never the user's doing.
extern "C" fn not_loaded() -> ! {
    eprintln!("v2m-engine: an ALSA function was called before libasound was loaded (a bug)");
    std::process::abort();
}

/// Loads the system's libasound.so.2 and points every trampoline into it; once per
/// process, the same answer after. The error says what is missing and how to get it.
pub fn load() -> Result<(), String> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED.get_or_init(open_and_resolve).clone()
}

fn open_and_resolve() -> Result<(), String> {
    // SAFETY: SONAME is NUL-terminated. The handle is never closed: the table points
    // into the library for the rest of the process.
    let library = unsafe { libc::dlopen(SONAME.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if library.is_null() {
        return Err(format!(
            "ALSA capture needs the system's {} and it could not be loaded ({}). Install \
             it (Debian, Ubuntu: sudo apt install libasound2, or libasound2t64 on Ubuntu 24.04 \
             and later; Fedora: sudo dnf install alsa-lib; Arch: sudo pacman -S alsa-lib), or \
             capture from a PulseAudio or PipeWire server with --host pulseaudio",
            SONAME.to_string_lossy(),
            last_dl_error()
        ));
    }
    for (slot, name) in TABLE.iter().zip(NAMES) {
        // SAFETY: `library` is a live handle and every name ends in a NUL.
        let address = unsafe { libc::dlsym(library, name.as_ptr().cast()) };
        if address.is_null() {
            return Err(format!(
                "the system's {} has no {} (an ALSA older than the engine needs); update ALSA or use \
                 --host pulseaudio",
                SONAME.to_string_lossy(),
                name.trim_end_matches('\0')
            ));
        }
        slot.store(address, Ordering::Release);
    }
    Ok(())
}

fn last_dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string that stays valid until
    // the next dl call on this thread; it is copied at once.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        return "no reason given".into();
    }
    // SAFETY: non-null, NUL-terminated (above).
    unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
}
