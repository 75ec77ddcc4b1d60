//! Random container names like Docker's: `adjective_surname`.

use rand::Rng;

const LEFT: &[&str] = &[
    "admiring",
    "affectionate",
    "agitated",
    "amazing",
    "angry",
    "awesome",
    "blissful",
    "bold",
    "boring",
    "brave",
    "busy",
    "charming",
    "clever",
    "compassionate",
    "competent",
    "confident",
    "cool",
    "cranky",
    "crazy",
    "dazzling",
    "determined",
    "distracted",
    "dreamy",
    "eager",
    "ecstatic",
    "elastic",
    "elated",
    "elegant",
    "eloquent",
    "epic",
    "exciting",
    "fervent",
    "festive",
    "flamboyant",
    "focused",
    "friendly",
    "frosty",
    "funny",
    "gallant",
    "gifted",
    "goofy",
    "gracious",
    "great",
    "happy",
    "hardcore",
    "heuristic",
    "hopeful",
    "hungry",
    "infallible",
    "inspiring",
    "intelligent",
    "interesting",
    "jolly",
    "jovial",
    "keen",
    "kind",
    "laughing",
    "loving",
    "lucid",
    "magical",
    "modest",
    "musing",
    "mystifying",
    "naughty",
    "nervous",
    "nice",
    "nifty",
    "nostalgic",
    "objective",
    "optimistic",
    "peaceful",
    "pedantic",
    "pensive",
    "practical",
    "priceless",
    "quirky",
    "quizzical",
    "recursing",
    "relaxed",
    "reverent",
    "romantic",
    "sad",
    "serene",
    "sharp",
    "silly",
    "sleepy",
    "stoic",
    "strange",
    "stupefied",
    "suspicious",
    "sweet",
    "tender",
    "thirsty",
    "trusting",
    "unruffled",
    "upbeat",
    "vibrant",
    "vigilant",
    "vigorous",
    "wizardly",
    "wonderful",
    "xenodochial",
    "youthful",
    "zealous",
    "zen",
];

const RIGHT: &[&str] = &[
    "agnesi",
    "albattani",
    "allen",
    "archimedes",
    "babbage",
    "banach",
    "bardeen",
    "bartik",
    "bell",
    "bhabha",
    "blackwell",
    "bohr",
    "booth",
    "borg",
    "bose",
    "brahmagupta",
    "brown",
    "cannon",
    "carson",
    "cerf",
    "chandrasekhar",
    "clarke",
    "curie",
    "darwin",
    "diffie",
    "dijkstra",
    "einstein",
    "elion",
    "engelbart",
    "euclid",
    "euler",
    "faraday",
    "fermat",
    "fermi",
    "feynman",
    "franklin",
    "galileo",
    "gauss",
    "goldberg",
    "goodall",
    "hamilton",
    "hawking",
    "heisenberg",
    "hermann",
    "hertz",
    "hodgkin",
    "hopper",
    "hypatia",
    "jackson",
    "jennings",
    "johnson",
    "kalam",
    "kepler",
    "khorana",
    "knuth",
    "kowalevski",
    "lamarr",
    "lamport",
    "leakey",
    "liskov",
    "lovelace",
    "lumiere",
    "margulis",
    "mayer",
    "mccarthy",
    "mclean",
    "meitner",
    "mendel",
    "mirzakhani",
    "morse",
    "newton",
    "nobel",
    "noether",
    "pasteur",
    "payne",
    "perlman",
    "pike",
    "poincare",
    "ramanujan",
    "ritchie",
    "rosalind",
    "sammet",
    "shannon",
    "shirley",
    "sinoussi",
    "stallman",
    "swanson",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "varahamihira",
    "visvesvaraya",
    "wescoff",
    "wilbur",
    "williams",
    "wing",
    "wozniak",
    "wright",
    "yalow",
    "yonath",
];

/// A random `adjective_surname`; like Docker, never "boring_wozniak". With `retry > 0` a digit
/// is appended, as Docker does after a collision.
pub fn random(retry: u32) -> String {
    let mut rng = rand::rng();
    loop {
        let left = LEFT[rng.random_range(0..LEFT.len())];
        let right = RIGHT[rng.random_range(0..RIGHT.len())];
        if left == "boring" && right == "wozniak" {
            continue;
        }
        let mut name = format!("{left}_{right}");
        if retry > 0 {
            name.push_str(&rng.random_range(0..10).to_string());
        }
        return name;
    }
}

/// Checks a `--name` as Docker does: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate(name: &str) -> anyhow::Result<()> {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut bytes = name.bytes();
    let ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.len() >= 2
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !ok {
        anyhow::bail!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_names_are_valid() {
        for retry in [0, 1] {
            let n = random(retry);
            assert!(n.contains('_'), "{n}");
            validate(&n).unwrap();
        }
    }

    #[test]
    fn invalid_names_are_refused() {
        assert!(validate("-x").is_err());
        assert!(validate("a b").is_err());
        assert!(validate("a").is_err());
        assert!(validate("web-1.x_y").is_ok());
    }
}
