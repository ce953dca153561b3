//! The people: the sales team (departments of heads and managers), and the
//! clients' names, kinds, sizes, industries, regions and contacts.

use std::collections::HashSet;

use crm_domain::values::{ClientKind, Contact};

use super::random::Dice;

/// Sales staff (heads included) for a log of `events`: about 60 for a million,
/// growing with the square root of the size, never fewer than 4.
pub fn sales_staff(events: u64) -> usize {
    let scaled = 60.0 * (events as f64 / 1_000_000.0).sqrt();
    (scaled.round() as usize).max(4)
}

/// A department's name and the kind of client it sells to.
pub struct DepartmentPlan {
    /// The department, as managers are registered with it.
    pub name: String,
    /// Companies or private persons.
    pub focus: ClientKind,
    /// How many people, its head included.
    pub size: usize,
}

const DEPARTMENTS: &[(&str, ClientKind)] = &[
    ("Enterprise sales", ClientKind::Company),
    ("Retail sales", ClientKind::Person),
    ("SMB sales", ClientKind::Company),
    ("Key accounts", ClientKind::Company),
    ("Online sales", ClientKind::Person),
    ("Regional sales", ClientKind::Company),
];

/// The departments of `staff` people: about ten each, at least two (one for
/// companies, one for persons).
pub fn departments(staff: usize) -> Vec<DepartmentPlan> {
    let count = (staff as f64 / 10.0).round().max(2.0) as usize;
    (0..count)
        .map(|n| {
            let (name, focus) = DEPARTMENTS[n % DEPARTMENTS.len()];
            let name = match n / DEPARTMENTS.len() {
                0 => name.to_owned(),
                round => format!("{name} {}", round + 1),
            };
            let size = staff / count + usize::from(n < staff % count);
            DepartmentPlan {
                name,
                focus,
                size: size.max(2),
            }
        })
        .collect()
}

const FIRST_NAMES: &[&str] = &[
    "Olena",
    "Ivan",
    "Oksana",
    "Andrii",
    "Iryna",
    "Dmytro",
    "Nataliia",
    "Serhii",
    "Tetiana",
    "Oleksandr",
    "Yuliia",
    "Mykola",
    "Kateryna",
    "Volodymyr",
    "Anna",
    "Taras",
    "Mariia",
    "Bohdan",
    "Sofiia",
    "Yurii",
    "Halyna",
    "Vasyl",
    "Lesia",
    "Roman",
    "Viktoriia",
    "Petro",
    "Daryna",
    "Maksym",
    "Alina",
    "Artem",
    "Svitlana",
    "Denys",
    "Khrystyna",
    "Pavlo",
    "Larysa",
    "Ihor",
];

const LAST_NAMES: &[&str] = &[
    "Shevchenko",
    "Kovalenko",
    "Bondarenko",
    "Tkachenko",
    "Kravchenko",
    "Oliinyk",
    "Shevchuk",
    "Koval",
    "Polishchuk",
    "Bondar",
    "Tkachuk",
    "Moroz",
    "Marchenko",
    "Lysenko",
    "Rudenko",
    "Savchenko",
    "Petrenko",
    "Klymenko",
    "Pavlenko",
    "Kuzmenko",
    "Melnyk",
    "Boiko",
    "Kovalchuk",
    "Ponomarenko",
    "Havryliuk",
    "Karpenko",
    "Romaniuk",
    "Lytvynenko",
    "Hnatiuk",
    "Yaremchuk",
];

const COMPANY_ROOTS: &[&str] = &[
    "Nord", "Agro", "Techno", "Stal", "Dnipro", "Karpaty", "Svitlo", "Bud", "Vektor", "Orion",
    "Polis", "Hrad", "Zerno", "Energo", "Medi", "Trans", "Soft", "Avto", "Khim", "Eko", "Dim",
    "Prom", "Lis", "Vodo", "Optima", "Terra", "Sokil", "Kvant", "Sigma", "Atlas", "Kalyna", "Dub",
    "Vitra", "Ravlyk", "Sonyach", "Zoria", "Bereh", "Lev", "Mriia", "Kraina",
];

/// What may join a company name's root, e.g. `Nordtek`, `Agroprom`.
const COMPANY_JOINS: &[&str] = &["", "", "tek", "prom", "lux", "star", "tex", "net", "form"];

/// A word now and then after a company name's core, e.g. `Nord Logistics Plus`.
const COMPANY_QUALIFIERS: &[&str] = &[
    "", "", "", "", "Plus", "Pro", "Ukraine", "Centre", "Alliance", "West", "East", "South",
];

const COMPANY_TAILS: &[&str] = &[
    "Trade",
    "Logistics",
    "Group",
    "Systems",
    "Invest",
    "Service",
    "Market",
    "Industries",
    "Foods",
    "Construction",
    "Lab",
    "Holding",
    "Tech",
    "Resource",
    "Partners",
    "Farm",
];

const COMPANY_FORMS: &[&str] = &["LLC", "LLC", "LLC", "JSC", "PE", "Ltd"];

/// Company sizes, by employees, with how often each is met.
pub const SIZES: &[(&str, f64)] = &[
    ("1-10", 30.0),
    ("11-50", 32.0),
    ("51-250", 22.0),
    ("251-1000", 11.0),
    ("1000+", 5.0),
];

/// Industries, with how often each is met.
pub const INDUSTRIES: &[(&str, f64)] = &[
    ("Retail", 14.0),
    ("Manufacturing", 12.0),
    ("Logistics", 9.0),
    ("IT", 11.0),
    ("Construction", 9.0),
    ("Agriculture", 8.0),
    ("Healthcare", 7.0),
    ("Education", 5.0),
    ("Finance", 6.0),
    ("Hospitality", 6.0),
    ("Food and beverage", 8.0),
    ("Energy", 5.0),
];

/// Regions, with how often each is met.
pub const REGIONS: &[(&str, f64)] = &[
    ("Kyiv", 30.0),
    ("Lviv", 12.0),
    ("Kharkiv", 10.0),
    ("Odesa", 10.0),
    ("Dnipro", 10.0),
    ("Zaporizhzhia", 5.0),
    ("Vinnytsia", 5.0),
    ("Poltava", 4.0),
    ("Ivano-Frankivsk", 4.0),
    ("Chernihiv", 3.0),
    ("Uzhhorod", 3.0),
    ("Warsaw", 4.0),
];

/// A person's full name.
pub fn person_name(dice: &mut Dice) -> String {
    format!("{} {}", dice.pick(FIRST_NAMES), dice.pick(LAST_NAMES))
}

/// A company's name, e.g. `Nord Logistics LLC`, `Agroprom Foods Plus JSC`.
pub fn company_name(dice: &mut Dice) -> String {
    let core = format!(
        "{}{} {}",
        dice.pick(COMPANY_ROOTS),
        dice.pick(COMPANY_JOINS),
        dice.pick(COMPANY_TAILS)
    );
    let qualifier = *dice.pick(COMPANY_QUALIFIERS);
    let form = dice.pick(COMPANY_FORMS);
    if qualifier.is_empty() {
        format!("{core} {form}")
    } else {
        format!("{core} {qualifier} {form}")
    }
}

/// A client's name that no client has yet (`taken` holds every one's key, to
/// which it is added): people share names and companies their cores in real
/// life too, but a made-up year should not let a handful of names repeat by the
/// thousand. Persons get a middle initial, companies a number when the common
/// names run out.
pub fn unique_client_name(
    kind: ClientKind,
    taken: &mut HashSet<String>,
    dice: &mut Dice,
) -> String {
    for attempt in 0..24 {
        let name = match kind {
            ClientKind::Company if attempt < 16 => company_name(dice),
            ClientKind::Company => {
                let name = company_name(dice);
                let mut words: Vec<String> = name.split_whitespace().map(str::to_owned).collect();
                let at = words.len().saturating_sub(1);
                words.insert(at, dice.int(2, 99).to_string());
                words.join(" ")
            }
            ClientKind::Person if attempt < 8 => person_name(dice),
            ClientKind::Person => {
                let initial = char::from(b'A' + dice.index(26) as u8);
                format!(
                    "{} {initial}. {}",
                    dice.pick(FIRST_NAMES),
                    dice.pick(LAST_NAMES)
                )
            }
        };
        if taken.insert(client_key(kind, &name)) {
            return name;
        }
    }
    match kind {
        ClientKind::Company => company_name(dice),
        ClientKind::Person => person_name(dice),
    }
}

/// What makes two clients' names the same: a person's name, case and spaces
/// folded; a company's core (its name but the legal form), which makes its email
/// domain.
pub fn client_key(kind: ClientKind, name: &str) -> String {
    match kind {
        ClientKind::Company => company_domain(name),
        ClientKind::Person => name
            .split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// A mobile phone number.
pub fn phone(dice: &mut Dice) -> String {
    let operator = dice.pick(&[
        "50", "63", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99",
    ]);
    format!(
        "+380 {operator} {:03} {:02} {:02}",
        dice.int(0, 999),
        dice.int(0, 99),
        dice.int(0, 99)
    )
}

/// An email address for `name` at `domain`.
pub fn email(name: &str, domain: &str) -> String {
    format!("{}@{domain}", local_part(name))
}

/// The part before the `@` of someone called `name`: the words in small letters,
/// joined by dots, e.g. `olena.m.koval`.
fn local_part(name: &str) -> String {
    name.to_lowercase()
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(".")
}

/// The email domain of a company name, e.g. `nordlogistics.com.ua`.
pub fn company_domain(company: &str) -> String {
    let words: Vec<&str> = company.split_whitespace().collect();
    let core: String = words[..words.len().saturating_sub(1).max(1)]
        .concat()
        .to_lowercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("{core}.com.ua")
}

/// A personal email address of someone called `name`, with a number as most
/// such addresses have (namesakes do not share an address).
pub fn personal_email(name: &str, dice: &mut Dice) -> String {
    let domain = dice.pick(&["gmail.com", "ukr.net", "i.ua", "outlook.com"]);
    let number = if dice.chance(0.5) {
        dice.int(1960, 2006)
    } else {
        dice.int(1, 9999)
    };
    format!("{}{number}@{domain}", local_part(name))
}

/// The same name written otherwise: in capitals, in small letters, or with a
/// doubled space (the same once case and spaces are folded).
pub fn name_variant(name: &str, dice: &mut Dice) -> String {
    match dice.index(3) {
        0 => name.to_uppercase(),
        1 => name.to_lowercase(),
        _ => name.replacen(' ', "  ", 1),
    }
}

/// The same name not quite: a company's without its legal form, a person's with
/// the surname first (different once case and spaces are folded).
pub fn name_unlike(name: &str, kind: ClientKind) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    match kind {
        ClientKind::Company if words.len() > 1 => words[..words.len() - 1].join(" "),
        _ => words.iter().rev().copied().collect::<Vec<_>>().join(" "),
    }
}

/// The same phone number written otherwise: its last ten digits, grouped in
/// another way (the same once reduced to its last ten digits).
pub fn phone_variant(phone: &str, dice: &mut Dice) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let ten = &digits[digits.len().saturating_sub(10)..];
    if ten.len() < 10 {
        return digits;
    }
    match dice.index(3) {
        0 => format!(
            "({}) {}-{}-{}",
            &ten[..3],
            &ten[3..6],
            &ten[6..8],
            &ten[8..]
        ),
        1 => format!("+38{ten}"),
        _ => ten.to_owned(),
    }
}

/// The same email address written otherwise: in capitals where its parts begin.
pub fn email_variant(email: &str) -> String {
    let mut capital = true;
    email
        .chars()
        .map(|c| {
            let out = if capital { c.to_ascii_uppercase() } else { c };
            capital = matches!(c, '.' | '@');
            out
        })
        .collect()
}

/// A new client's card, as a manager fills it in.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Company or person name.
    pub name: String,
    /// Company or person.
    pub kind: ClientKind,
    /// Company size (companies only).
    pub size: Option<String>,
    /// Industry (companies only).
    pub industry: Option<String>,
    /// Region.
    pub region: String,
    /// Contact persons.
    pub contacts: Vec<Contact>,
}

/// A client of `kind` called `name`, made up.
pub fn profile(kind: ClientKind, name: String, dice: &mut Dice) -> Profile {
    let region = (*dice.weighted(REGIONS)).to_owned();
    match kind {
        ClientKind::Company => {
            let domain = company_domain(&name);
            let contacts = (0..dice.int(1, 3))
                .map(|_| {
                    let person = person_name(dice);
                    Contact {
                        email: Some(email(&person, &domain)),
                        phone: dice.chance(0.8).then(|| phone(dice)),
                        name: person,
                    }
                })
                .collect();
            Profile {
                name,
                kind,
                size: Some((*dice.weighted(SIZES)).to_owned()),
                industry: Some((*dice.weighted(INDUSTRIES)).to_owned()),
                region,
                contacts,
            }
        }
        ClientKind::Person => {
            let contacts = vec![Contact {
                email: dice.chance(0.6).then(|| personal_email(&name, dice)),
                phone: Some(phone(dice)),
                name: name.clone(),
            }];
            Profile {
                name,
                kind,
                size: None,
                industry: None,
                region,
                contacts,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_team_grows_with_the_log() {
        assert_eq!(sales_staff(1_000_000), 60);
        assert_eq!(sales_staff(100), 4);
        assert!(sales_staff(20_000) >= 4);
        let plan = departments(60);
        assert_eq!(plan.len(), 6);
        assert_eq!(plan.iter().map(|d| d.size).sum::<usize>(), 60);
        assert!(plan.iter().any(|d| d.focus == ClientKind::Person));
        assert!(departments(4).len() >= 2);
    }

    #[test]
    fn variants_are_the_same_once_folded() {
        let mut dice = Dice::new(5);
        for _ in 0..20 {
            let name = name_variant("Nord Logistics LLC", &mut dice);
            assert_ne!(name, "Nord Logistics LLC");
            let folded: Vec<String> = name.split_whitespace().map(str::to_lowercase).collect();
            assert_eq!(folded.join(" "), "nord logistics llc");
            let phone = phone_variant("+380 67 123 45 67", &mut dice);
            let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
            assert!(digits.ends_with("0671234567"), "{phone}");
        }
        assert_eq!(email_variant("olena.koval@ukr.net"), "Olena.Koval@Ukr.Net");
        assert_eq!(
            name_unlike("Nord Logistics LLC", ClientKind::Company),
            "Nord Logistics"
        );
        assert_eq!(
            name_unlike("Olena Koval", ClientKind::Person),
            "Koval Olena"
        );
    }

    #[test]
    fn names_make_addresses() {
        assert_eq!(
            email("Olena Koval", "nord.com.ua"),
            "olena.koval@nord.com.ua"
        );
        assert_eq!(company_domain("Nord Logistics LLC"), "nordlogistics.com.ua");
        assert_eq!(email("Olena M. Koval", "i.ua"), "olena.m.koval@i.ua");
        let mut dice = Dice::new(1);
        let personal = personal_email("Olena Koval", &mut dice);
        assert!(
            personal.starts_with("olena.koval") && personal.contains('@'),
            "{personal}"
        );
        let mut taken = HashSet::new();
        for kind in [ClientKind::Company, ClientKind::Person] {
            for _ in 0..2_000 {
                unique_client_name(kind, &mut taken, &mut dice);
            }
        }
        assert_eq!(taken.len(), 4_000, "every name is new");
    }
}
