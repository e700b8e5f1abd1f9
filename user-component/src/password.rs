//! Password hashing with Argon2id. Only the PHC string is ever stored; it carries its own salt
//! and parameters, so they can be raised later without breaking existing hashes.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::domain::Password;

/// Memory per hash, KiB. One of OWASP's equivalent Argon2id settings (7 MiB, 5 passes, 1 lane,
/// as strong as 19 MiB with 2 passes): each sign-up in flight holds this in its instance, so a
/// burst of sign-ups costs a pod a third of the memory (figures in docs/deploy.md).
const MEMORY_KIB: u32 = 7 * 1024;
const PASSES: u32 = 5;
const LANES: u32 = 1;

fn hasher() -> Argon2<'static> {
    hasher_with(MEMORY_KIB, PASSES)
}

fn hasher_with(memory_kib: u32, passes: u32) -> Argon2<'static> {
    let params =
        Params::new(memory_kib, passes, LANES, None).expect("constant parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string (`$argon2id$v=19$m=7168,t=5,p=1$salt$hash`) for `password`, with a fresh salt.
pub fn hash(password: &Password) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(hasher()
        .hash_password(password.expose(), &salt)?
        .to_string())
}

/// Whether `password` is the one `phc` was made from, with the salt and parameters `phc` names
/// (so hashes stored under earlier settings keep verifying).
pub fn verify(password: &[u8], phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| hasher().verify_password(password, &parsed).is_ok())
}

/// The work of one [`verify`] and nothing else: a sign-in for an email no account has costs as
/// long as one with a wrong password, so its answer's timing tells nothing.
pub fn spend_one_check(password: &Password) {
    let salt = SaltString::generate(&mut OsRng);
    let _ = hasher().hash_password(password.expose(), &salt);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(raw: &str) -> Password {
        Password::parse(raw).unwrap()
    }

    #[test]
    fn a_hash_verifies_against_its_password_only() {
        let phc = hash(&password("correct horse")).unwrap();
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(hasher().verify_password(b"correct horse", &parsed).is_ok());
        assert!(hasher().verify_password(b"wrong horse!", &parsed).is_err());
    }

    #[test]
    fn verify_accepts_the_password_only() {
        let phc = hash(&password("correct horse")).unwrap();
        assert!(verify(b"correct horse", &phc));
        assert!(!verify(b"correct horsf", &phc));
        assert!(!verify(b"correct horse", "not a hash"));
    }

    #[test]
    fn the_hash_is_argon2id_with_an_owasp_setting() {
        let phc = hash(&password("correct horse")).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
    }

    #[test]
    fn a_hash_stored_under_the_earlier_setting_still_verifies() {
        let salt = SaltString::generate(&mut OsRng);
        let earlier = hasher_with(19 * 1024, 2)
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert!(
            earlier.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{earlier}"
        );
        assert!(verify(b"correct horse", &earlier));
        assert!(!verify(b"correct horsf", &earlier));
    }

    #[test]
    fn the_same_password_gets_a_different_salt_each_time() {
        let p = password("correct horse");
        assert_ne!(hash(&p).unwrap(), hash(&p).unwrap());
    }
}
