//! libnftables in-process: `nft_run_cmd_from_buffer` on a context of `libnftables.so.1`,
//! loaded at run time with `dlopen` so that neither the build nor a daemon without load
//! balancing needs the library.
//!
//! Why not `nft -f -`: spawning nft costs ~24 ms per change, the library ~3-8 ms
//! (docs/dataplane.md), and the issue asks for < 5 ms per real-server change.
//! One buffer is one nf_tables transaction: every command in it commits, or none does.

use std::ffi::{CStr, CString, c_char, c_int, c_void};

use crate::DataPathError;

/// The library's soname (package libnftables1, a dependency of nftables).
const SONAME: &CStr = c"libnftables.so.1";

type CtxNew = unsafe extern "C" fn(u32) -> *mut c_void;
type CtxFree = unsafe extern "C" fn(*mut c_void);
type CtxInt = unsafe extern "C" fn(*mut c_void) -> c_int;
type CtxStr = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type RunCmd = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;

/// A libnftables context with buffered output and errors.
pub(crate) struct Nft {
    lib: *mut c_void,
    ctx: *mut c_void,
    ctx_free: CtxFree,
    get_output: CtxStr,
    get_error: CtxStr,
    run_cmd: RunCmd,
}

// SAFETY: the context and the library handle are owned by this value alone and used only
// through `&mut self` (or in `Drop`), so one thread at a time; libnftables keeps no
// thread-local state.
unsafe impl Send for Nft {}

/// `dlsym` of `name`, as a function pointer of type `F`.
///
/// # Safety
/// `F` must be the function's true C signature.
unsafe fn symbol<F: Copy>(lib: *mut c_void, name: &CStr) -> Result<F, DataPathError> {
    // SAFETY: `lib` is a live handle from dlopen and `name` is NUL-terminated.
    let ptr = unsafe { libc::dlsym(lib, name.as_ptr()) };
    if ptr.is_null() {
        return Err(DataPathError::Library(format!(
            "libnftables.so.1 has no {}",
            name.to_string_lossy()
        )));
    }
    // SAFETY: a function pointer has the size of a data pointer on Linux, and the caller
    // vouches for the signature.
    Ok(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&ptr) })
}

impl Nft {
    /// Loads the library and makes a context (its netlink socket belongs to the calling
    /// thread's network namespace).
    pub(crate) fn open() -> Result<Nft, DataPathError> {
        // SAFETY: dlopen with a NUL-terminated soname; the library has no unsafe
        // initialisers.
        let lib = unsafe { libc::dlopen(SONAME.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if lib.is_null() {
            return Err(DataPathError::Library(
                "cannot load libnftables.so.1 (install package libnftables1, or nftables)".into(),
            ));
        }
        match Self::with_library(lib) {
            Ok(nft) => Ok(nft),
            Err(e) => {
                // SAFETY: `lib` came from dlopen and nothing of it is in use.
                unsafe { libc::dlclose(lib) };
                Err(e)
            }
        }
    }

    fn with_library(lib: *mut c_void) -> Result<Nft, DataPathError> {
        // SAFETY: the signatures are those of nftables' include/nftables/libnftables.h.
        let (ctx_new, ctx_free, buffer_output, buffer_error, get_output, get_error, run_cmd) = unsafe {
            (
                symbol::<CtxNew>(lib, c"nft_ctx_new")?,
                symbol::<CtxFree>(lib, c"nft_ctx_free")?,
                symbol::<CtxInt>(lib, c"nft_ctx_buffer_output")?,
                symbol::<CtxInt>(lib, c"nft_ctx_buffer_error")?,
                symbol::<CtxStr>(lib, c"nft_ctx_get_output_buffer")?,
                symbol::<CtxStr>(lib, c"nft_ctx_get_error_buffer")?,
                symbol::<RunCmd>(lib, c"nft_run_cmd_from_buffer")?,
            )
        };
        // SAFETY: NFT_CTX_DEFAULT (0) is a valid flag set.
        let ctx = unsafe { ctx_new(0) };
        if ctx.is_null() {
            return Err(DataPathError::Library("nft_ctx_new failed".into()));
        }
        // SAFETY: `ctx` is a live context; buffering only changes where text goes.
        let buffered = unsafe { buffer_output(ctx) == 0 && buffer_error(ctx) == 0 };
        if !buffered {
            // SAFETY: `ctx` is live and not used afterwards.
            unsafe { ctx_free(ctx) };
            return Err(DataPathError::Library(
                "libnftables cannot buffer its output".into(),
            ));
        }
        Ok(Nft {
            lib,
            ctx,
            ctx_free,
            get_output,
            get_error,
            run_cmd,
        })
    }

    /// Runs `script` (nft syntax) as one transaction; returns what it printed.
    pub(crate) fn run(&mut self, script: &str) -> Result<String, DataPathError> {
        let text = CString::new(script)
            .map_err(|_| DataPathError::Nft("a NUL byte in an nft script".into()))?;
        // SAFETY: `ctx` is live, `text` is NUL-terminated and outlives the call.
        let rc = unsafe { (self.run_cmd)(self.ctx, text.as_ptr()) };
        // SAFETY: the buffers are NUL-terminated strings owned by `ctx`, valid until the
        // next command; they are copied out at once.
        let (out, err) = unsafe {
            (
                Self::copy((self.get_output)(self.ctx)),
                Self::copy((self.get_error)(self.ctx)),
            )
        };
        if rc == 0 {
            Ok(out)
        } else {
            Err(DataPathError::Nft(err.trim().to_string()))
        }
    }

    /// # Safety
    /// `p` is null or a NUL-terminated string.
    unsafe fn copy(p: *const c_char) -> String {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: per the contract above.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    }
}

impl Drop for Nft {
    fn drop(&mut self) {
        // SAFETY: `ctx` and `lib` are live and never used after this.
        unsafe {
            (self.ctx_free)(self.ctx);
            libc::dlclose(self.lib);
        }
    }
}
