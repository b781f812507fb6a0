//! glibc's library cache, /etc/ld.so.cache, read directly: what `ldconfig -p` prints, without
//! a fork and exec of ldconfig (10-30 ms of a tool's start-up). Only the current format
//! ("glibc-ld.so.cache1.1", glibc 2.32+, also found after the old format in older files) is read;
//! anything else reads as an empty cache and the caller searches the library directories.

/// The x86-64 libraries of the cache in its order (ldconfig's): (file name, path).
pub fn x86_64_libraries(cache: &[u8]) -> Vec<(String, String)> {
    const MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
    // libc6 library (FLAG_ELF_LIBC6) for x86-64 (FLAG_X8664_LIB64).
    const X86_64_LIBC6: u32 = 0x0303;
    const HEADER: usize = 48;
    const ENTRY: usize = 24;
    let Some(start) = find(cache, MAGIC) else {
        return Vec::new();
    };
    let file = &cache[start..];
    let u32_at = |off: usize| -> Option<u32> {
        Some(u32::from_le_bytes(file.get(off..off + 4)?.try_into().ok()?))
    };
    // String offsets count from the start of the new-format part.
    let string_at = |off: u32| -> Option<String> {
        let rest = file.get(off as usize..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    };
    let Some(count) = u32_at(20) else {
        return Vec::new();
    };
    (0..count as usize)
        .map_while(|i| {
            let at = HEADER + i * ENTRY;
            Some((u32_at(at)?, u32_at(at + 4)?, u32_at(at + 8)?))
        })
        .filter(|(flags, _, _)| flags & 0xffff == X86_64_LIBC6)
        .filter_map(|(_, key, value)| Some((string_at(key)?, string_at(value)?)))
        .collect()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    /// The same x86-64 entries, in the same order, as `ldconfig -p` prints from this machine's
    /// cache (skipped where ldconfig or the cache is missing).
    #[test]
    fn reads_what_ldconfig_prints() {
        let (Ok(cache), Ok(out)) = (
            std::fs::read("/etc/ld.so.cache"),
            std::process::Command::new("ldconfig").arg("-p").output(),
        ) else {
            eprintln!("SKIPPED: no /etc/ld.so.cache or ldconfig");
            return;
        };
        let printed: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter(|l| l.contains("x86-64"))
            .filter_map(|l| {
                let name = l.split_whitespace().next()?.to_string();
                Some((name, l.rsplit_once("=> ")?.1.to_string()))
            })
            .collect();
        assert!(printed.len() > 10, "{printed:?}");
        assert_eq!(super::x86_64_libraries(&cache), printed);
    }

    #[test]
    fn no_cache_or_another_format_is_empty() {
        assert!(super::x86_64_libraries(b"").is_empty());
        assert!(super::x86_64_libraries(b"ld.so-1.7.0\0\0\0\0").is_empty());
        let mut short = b"glibc-ld.so.cache1.1".to_vec();
        short.extend_from_slice(&[9, 0, 0, 0]);
        assert!(super::x86_64_libraries(&short).is_empty(), "truncated");
    }
}
