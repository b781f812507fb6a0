//! Student passwords: random from the OS CSPRNG, readable aloud, hashed for /etc/shadow.
use anyhow::anyhow;
use rand::{rngs::OsRng, Rng};

/// Crockford's base32 alphabet, lower case: no i, l, o or u, so nothing reads as 1 or 0.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Random symbols per password; each carries log2(32) = 5 bits.
pub const SYMBOLS: usize = 16;
/// Entropy of one password in bits (80: far beyond online guessing over SSH).
pub const ENTROPY_BITS: u32 = SYMBOLS as u32 * 5;

/// A fresh password like `7k2m-q9xd-4hjt-c0ve` (the dashes only help reading it).
pub fn generate() -> String {
    let mut out = String::with_capacity(SYMBOLS + SYMBOLS / 4);
    for i in 0..SYMBOLS {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(ALPHABET[OsRng.gen_range(0..ALPHABET.len())] as char);
    }
    out
}

/// SHA-512 crypt (`$6$...`), what cloud-init's `passwd` and `usermod -p` expect.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let params = sha_crypt::Sha512Params::new(sha_crypt::ROUNDS_DEFAULT)
        .map_err(|e| anyhow!("sha-512 crypt parameters: {e:?}"))?;
    sha_crypt::sha512_simple(password, &params).map_err(|e| anyhow!("hashing a password: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_have_the_promised_entropy_and_shape() {
        const { assert!(ENTROPY_BITS >= 64) };
        assert_eq!(ALPHABET.len(), 32);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let p = generate();
            let symbols: Vec<char> = p.chars().filter(|c| *c != '-').collect();
            assert_eq!(symbols.len(), SYMBOLS, "{p}");
            assert!(
                symbols.iter().all(|c| ALPHABET.contains(&(*c as u8))),
                "{p}"
            );
            assert_eq!(p.split('-').count(), SYMBOLS / 4, "{p}");
            assert!(
                seen.insert(p),
                "a repeated password in 200 draws means the generator is broken"
            );
        }
    }

    #[test]
    fn symbols_are_spread_over_the_whole_alphabet() {
        // 3200 draws over 32 symbols: every symbol shows up (P(miss) ~ 32 * e^-100).
        let all: String = (0..200).map(|_| generate()).collect();
        for c in ALPHABET {
            assert!(
                all.contains(*c as char),
                "symbol {} never drawn",
                *c as char
            );
        }
    }

    #[test]
    fn hash_is_sha512_crypt_and_verifies() {
        let p = generate();
        let h = hash(&p).unwrap();
        assert!(h.starts_with("$6$"), "{h}");
        assert!(sha_crypt::sha512_check(&p, &h).is_ok());
        assert!(sha_crypt::sha512_check("wrong", &h).is_err());
        assert_ne!(h, hash(&p).unwrap(), "salts must differ");
    }
}
