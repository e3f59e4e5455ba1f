//! Built-in words (buttons, validation messages, error pages) in the supported locales.
//! Campaign text overrides the campaign's own words; these cover the rest.

use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Locales with built-in words. The first is the fallback.
pub const LOCALES: [&str; 5] = ["en", "de", "fr", "es", "ar"];

/// A locale's language: the tag before its first `-`.
fn language(locale: &str) -> &str {
    locale.split('-').next().unwrap_or(locale)
}

/// Locales written right to left.
pub fn is_rtl(locale: &str) -> bool {
    matches!(language(locale), "ar" | "he" | "fa" | "ur")
}

/// Keys of the built-in words.
pub const KEYS: [&str; 40] = [
    "submit",
    "skip",
    "decline",
    "required",
    "optional",
    "continue_title",
    "continue_text",
    "continue_button",
    "error_summary",
    "err_required",
    "err_too_short",
    "err_too_long",
    "err_pattern",
    "err_too_small",
    "err_too_large",
    "err_invalid",
    "err_not_an_option",
    "expired_title",
    "expired_text",
    "used_title",
    "used_text",
    "invalid_title",
    "invalid_text",
    "trouble_title",
    "trouble_text",
    "forbidden_title",
    "forbidden_text",
    "back_button",
    "choose",
    "done_title",
    "done_text",
    "tos_link",
    "coupon_label",
    "copy_button",
    "coupon_valid_until",
    "coupon_exhausted",
    "error_prefix",
    "copied",
    "close_hint",
    "coupon_title",
];

fn en(key: &str) -> &'static str {
    match key {
        "submit" => "Continue",
        "skip" => "Not now",
        "decline" => "No thanks",
        "required" => "required",
        "optional" => "optional",
        "continue_title" => "Taking you back",
        "continue_text" => "You are being returned to the application.",
        "continue_button" => "Continue",
        "error_summary" => "Please correct the fields marked below.",
        "err_required" => "Please fill in this field.",
        "err_too_short" => "Please enter at least {limit} characters.",
        "err_too_long" => "Please enter at most {limit} characters.",
        "err_pattern" => "This does not have the expected format.",
        "err_too_small" => "Please enter {limit} or more.",
        "err_too_large" => "Please enter {limit} or less.",
        "err_invalid" => "This value is not valid.",
        "err_not_an_option" => "Please choose one of the options.",
        "expired_title" => "This page has expired",
        "expired_text" => {
            "You took a little longer than we could wait. Continue to return to the application; you may be asked to sign in again."
        }
        "used_title" => "This link was already used",
        "used_text" => {
            "Sign-in links work only once. Go back to the application and sign in again."
        }
        "invalid_title" => "This sign-in link is not valid",
        "invalid_text" => {
            "The link is incomplete, altered or too old. Go back to the application and sign in again."
        }
        "trouble_title" => "Something went wrong on our side",
        "trouble_text" => {
            "Please try again in a moment. If it keeps happening, go back to the application and sign in again."
        }
        "forbidden_title" => "This page belongs to another browser",
        "forbidden_text" => {
            "Open it in the browser where you started signing in, or sign in again here."
        }
        "back_button" => "Return to the application",
        "choose" => "Choose…",
        "done_title" => "You have already answered",
        "done_text" => "This step is done. Continue to return to the application.",
        "tos_link" => "Read the Terms of Service",
        "coupon_label" => "Your code",
        "copy_button" => "Copy code",
        "coupon_valid_until" => "Valid until {date}",
        "coupon_exhausted" => "Sorry, all codes have been handed out. Thank you for your interest!",
        "error_prefix" => "Error",
        "copied" => "Copied to the clipboard",
        "close_hint" => "You can close this page.",
        "coupon_title" => "Here is your code",
        _ => "",
    }
}

fn de(key: &str) -> Option<&'static str> {
    Some(match key {
        "submit" => "Weiter",
        "skip" => "Nicht jetzt",
        "decline" => "Nein, danke",
        "required" => "Pflichtfeld",
        "optional" => "optional",
        "continue_title" => "Sie werden zurückgeleitet",
        "continue_text" => "Sie kehren zur Anwendung zurück.",
        "continue_button" => "Weiter",
        "error_summary" => "Bitte korrigieren Sie die markierten Felder.",
        "err_required" => "Bitte füllen Sie dieses Feld aus.",
        "err_too_short" => "Bitte geben Sie mindestens {limit} Zeichen ein.",
        "err_too_long" => "Bitte geben Sie höchstens {limit} Zeichen ein.",
        "err_pattern" => "Das Format stimmt nicht.",
        "err_too_small" => "Bitte geben Sie {limit} oder mehr ein.",
        "err_too_large" => "Bitte geben Sie {limit} oder weniger ein.",
        "err_invalid" => "Dieser Wert ist ungültig.",
        "err_not_an_option" => "Bitte wählen Sie eine der Optionen.",
        "expired_title" => "Diese Seite ist abgelaufen",
        "expired_text" => {
            "Das hat etwas zu lange gedauert. Fahren Sie fort, um zur Anwendung zurückzukehren; eventuell müssen Sie sich erneut anmelden."
        }
        "used_title" => "Dieser Link wurde bereits verwendet",
        "used_text" => {
            "Anmeldelinks funktionieren nur einmal. Kehren Sie zur Anwendung zurück und melden Sie sich erneut an."
        }
        "invalid_title" => "Dieser Anmeldelink ist ungültig",
        "invalid_text" => {
            "Der Link ist unvollständig, verändert oder zu alt. Kehren Sie zur Anwendung zurück und melden Sie sich erneut an."
        }
        "trouble_title" => "Bei uns ist etwas schiefgelaufen",
        "trouble_text" => {
            "Bitte versuchen Sie es gleich noch einmal. Wenn es wieder passiert, melden Sie sich in der Anwendung erneut an."
        }
        "forbidden_title" => "Diese Seite gehört zu einem anderen Browser",
        "forbidden_text" => {
            "Öffnen Sie sie in dem Browser, in dem Sie die Anmeldung begonnen haben, oder melden Sie sich hier erneut an."
        }
        "back_button" => "Zurück zur Anwendung",
        "choose" => "Bitte wählen…",
        "done_title" => "Sie haben bereits geantwortet",
        "done_text" => {
            "Dieser Schritt ist erledigt. Fahren Sie fort, um zur Anwendung zurückzukehren."
        }
        "tos_link" => "Nutzungsbedingungen lesen",
        "coupon_label" => "Ihr Code",
        "copy_button" => "Code kopieren",
        "coupon_valid_until" => "Gültig bis {date}",
        "coupon_exhausted" => "Leider sind alle Codes vergeben. Danke für Ihr Interesse!",
        "error_prefix" => "Fehler",
        "copied" => "In die Zwischenablage kopiert",
        "close_hint" => "Sie können diese Seite schließen.",
        "coupon_title" => "Hier ist Ihr Code",
        _ => return None,
    })
}

fn fr(key: &str) -> Option<&'static str> {
    Some(match key {
        "submit" => "Continuer",
        "skip" => "Pas maintenant",
        "decline" => "Non merci",
        "required" => "obligatoire",
        "optional" => "facultatif",
        "continue_title" => "Retour en cours",
        "continue_text" => "Vous êtes redirigé vers l’application.",
        "continue_button" => "Continuer",
        "error_summary" => "Veuillez corriger les champs indiqués ci-dessous.",
        "err_required" => "Veuillez remplir ce champ.",
        "err_too_short" => "Veuillez saisir au moins {limit} caractères.",
        "err_too_long" => "Veuillez saisir au plus {limit} caractères.",
        "err_pattern" => "Le format n’est pas celui attendu.",
        "err_too_small" => "Veuillez saisir {limit} ou plus.",
        "err_too_large" => "Veuillez saisir {limit} ou moins.",
        "err_invalid" => "Cette valeur n’est pas valide.",
        "err_not_an_option" => "Veuillez choisir l’une des options.",
        "expired_title" => "Cette page a expiré",
        "expired_text" => {
            "Le délai est dépassé. Continuez pour revenir à l’application ; il faudra peut-être vous reconnecter."
        }
        "used_title" => "Ce lien a déjà été utilisé",
        "used_text" => {
            "Les liens de connexion ne servent qu’une fois. Revenez à l’application et reconnectez-vous."
        }
        "invalid_title" => "Ce lien de connexion n’est pas valide",
        "invalid_text" => {
            "Le lien est incomplet, modifié ou trop ancien. Revenez à l’application et reconnectez-vous."
        }
        "trouble_title" => "Un problème est survenu de notre côté",
        "trouble_text" => {
            "Veuillez réessayer dans un instant. Si cela se reproduit, revenez à l’application et reconnectez-vous."
        }
        "forbidden_title" => "Cette page appartient à un autre navigateur",
        "forbidden_text" => {
            "Ouvrez-la dans le navigateur où vous avez commencé la connexion, ou reconnectez-vous ici."
        }
        "back_button" => "Revenir à l’application",
        "choose" => "Choisir…",
        "done_title" => "Vous avez déjà répondu",
        "done_text" => "Cette étape est terminée. Continuez pour revenir à l’application.",
        "tos_link" => "Lire les conditions d’utilisation",
        "coupon_label" => "Votre code",
        "copy_button" => "Copier le code",
        "coupon_valid_until" => "Valable jusqu’au {date}",
        "coupon_exhausted" => "Désolé, tous les codes ont été distribués. Merci de votre intérêt !",
        "error_prefix" => "Erreur",
        "copied" => "Copié dans le presse-papiers",
        "close_hint" => "Vous pouvez fermer cette page.",
        "coupon_title" => "Voici votre code",
        _ => return None,
    })
}

fn es(key: &str) -> Option<&'static str> {
    Some(match key {
        "submit" => "Continuar",
        "skip" => "Ahora no",
        "decline" => "No, gracias",
        "required" => "obligatorio",
        "optional" => "opcional",
        "continue_title" => "Volviendo a la aplicación",
        "continue_text" => "Le estamos devolviendo a la aplicación.",
        "continue_button" => "Continuar",
        "error_summary" => "Corrija los campos marcados a continuación.",
        "err_required" => "Rellene este campo.",
        "err_too_short" => "Introduzca al menos {limit} caracteres.",
        "err_too_long" => "Introduzca como máximo {limit} caracteres.",
        "err_pattern" => "El formato no es el esperado.",
        "err_too_small" => "Introduzca {limit} o más.",
        "err_too_large" => "Introduzca {limit} o menos.",
        "err_invalid" => "Este valor no es válido.",
        "err_not_an_option" => "Elija una de las opciones.",
        "expired_title" => "Esta página ha caducado",
        "expired_text" => {
            "Ha pasado demasiado tiempo. Continúe para volver a la aplicación; puede que deba iniciar sesión de nuevo."
        }
        "used_title" => "Este enlace ya se utilizó",
        "used_text" => {
            "Los enlaces de inicio de sesión solo funcionan una vez. Vuelva a la aplicación e inicie sesión de nuevo."
        }
        "invalid_title" => "Este enlace de inicio de sesión no es válido",
        "invalid_text" => {
            "El enlace está incompleto, alterado o es demasiado antiguo. Vuelva a la aplicación e inicie sesión de nuevo."
        }
        "trouble_title" => "Algo ha fallado por nuestra parte",
        "trouble_text" => {
            "Inténtelo de nuevo en un momento. Si vuelve a ocurrir, vuelva a la aplicación e inicie sesión de nuevo."
        }
        "forbidden_title" => "Esta página pertenece a otro navegador",
        "forbidden_text" => {
            "Ábrala en el navegador donde empezó a iniciar sesión, o inicie sesión de nuevo aquí."
        }
        "back_button" => "Volver a la aplicación",
        "choose" => "Elija…",
        "done_title" => "Ya ha respondido",
        "done_text" => "Este paso está completo. Continúe para volver a la aplicación.",
        "tos_link" => "Leer las condiciones de uso",
        "coupon_label" => "Su código",
        "copy_button" => "Copiar el código",
        "coupon_valid_until" => "Válido hasta el {date}",
        "coupon_exhausted" => {
            "Lo sentimos, ya se han repartido todos los códigos. ¡Gracias por su interés!"
        }
        "error_prefix" => "Error",
        "copied" => "Copiado al portapapeles",
        "close_hint" => "Puede cerrar esta página.",
        "coupon_title" => "Aquí tiene su código",
        _ => return None,
    })
}

fn ar(key: &str) -> Option<&'static str> {
    Some(match key {
        "submit" => "متابعة",
        "skip" => "ليس الآن",
        "decline" => "لا، شكرًا",
        "required" => "مطلوب",
        "optional" => "اختياري",
        "continue_title" => "جارٍ إعادتك",
        "continue_text" => "تتم إعادتك إلى التطبيق.",
        "continue_button" => "متابعة",
        "error_summary" => "يرجى تصحيح الحقول المشار إليها أدناه.",
        "err_required" => "يرجى ملء هذا الحقل.",
        "err_too_short" => "يرجى إدخال {limit} أحرف على الأقل.",
        "err_too_long" => "يرجى إدخال {limit} أحرف على الأكثر.",
        "err_pattern" => "الصيغة غير صحيحة.",
        "err_too_small" => "يرجى إدخال {limit} أو أكثر.",
        "err_too_large" => "يرجى إدخال {limit} أو أقل.",
        "err_invalid" => "هذه القيمة غير صالحة.",
        "err_not_an_option" => "يرجى اختيار أحد الخيارات.",
        "expired_title" => "انتهت صلاحية هذه الصفحة",
        "expired_text" => {
            "استغرق الأمر وقتًا أطول مما يمكننا الانتظار. تابع للعودة إلى التطبيق؛ قد يُطلب منك تسجيل الدخول مجددًا."
        }
        "used_title" => "تم استخدام هذا الرابط من قبل",
        "used_text" => "روابط تسجيل الدخول تعمل مرة واحدة فقط. عد إلى التطبيق وسجّل الدخول مجددًا.",
        "invalid_title" => "رابط تسجيل الدخول هذا غير صالح",
        "invalid_text" => "الرابط ناقص أو معدّل أو قديم جدًا. عد إلى التطبيق وسجّل الدخول مجددًا.",
        "trouble_title" => "حدث خطأ من جهتنا",
        "trouble_text" => {
            "يرجى المحاولة مرة أخرى بعد قليل. إذا تكرر ذلك، عد إلى التطبيق وسجّل الدخول مجددًا."
        }
        "forbidden_title" => "هذه الصفحة تخص متصفحًا آخر",
        "forbidden_text" => {
            "افتحها في المتصفح الذي بدأت فيه تسجيل الدخول، أو سجّل الدخول مجددًا هنا."
        }
        "back_button" => "العودة إلى التطبيق",
        "choose" => "اختر…",
        "done_title" => "لقد أجبت بالفعل",
        "done_text" => "اكتملت هذه الخطوة. تابع للعودة إلى التطبيق.",
        "tos_link" => "اقرأ شروط الخدمة",
        "coupon_label" => "رمزك",
        "copy_button" => "نسخ الرمز",
        "coupon_valid_until" => "صالح حتى {date}",
        "coupon_exhausted" => "عذرًا، تم توزيع جميع الرموز. شكرًا لاهتمامك!",
        "error_prefix" => "خطأ",
        "copied" => "تم النسخ إلى الحافظة",
        "close_hint" => "يمكنك إغلاق هذه الصفحة.",
        "coupon_title" => "إليك رمزك",
        _ => return None,
    })
}

/// The built-in word for `key` in `locale` (by language), falling back to English.
pub fn word(locale: &str, key: &str) -> &'static str {
    let found = match language(locale) {
        "de" => de(key),
        "fr" => fr(key),
        "es" => es(key),
        "ar" => ar(key),
        _ => None,
    };
    found.unwrap_or_else(|| en(key))
}

/// Every built-in word of a locale, for templates.
pub fn all(locale: &str) -> BTreeMap<&'static str, &'static str> {
    KEYS.iter().map(|k| (*k, word(locale, k))).collect()
}

/// [`all`] as a template value, built once per locale with built-in words: every page
/// renders with it, and building the map anew took a few per cent of a round trip's CPU.
/// A locale without words of its own gets the fallback's (as [`word`] does).
pub fn table(locale: &str) -> minijinja::Value {
    static TABLES: LazyLock<Vec<minijinja::Value>> = LazyLock::new(|| {
        LOCALES
            .iter()
            .map(|l| minijinja::Value::from(minijinja::value::Serde(all(l))))
            .collect()
    });
    let lang = language(locale);
    let at = LOCALES.iter().position(|l| *l == lang).unwrap_or(0);
    TABLES.get(at).cloned().unwrap_or_default()
}

/// The best of `available` for the user: the `preferred` candidates in order (exact tag,
/// then language), else `fallback`.
pub fn negotiate<'a>(preferred: &[String], available: &[&'a str], fallback: &'a str) -> &'a str {
    for want in preferred {
        let want = want.trim();
        if let Some(hit) = available.iter().find(|a| a.eq_ignore_ascii_case(want)) {
            return hit;
        }
        let lang = want.split(['-', '_']).next().unwrap_or(want);
        if let Some(hit) = available.iter().find(|a| a.eq_ignore_ascii_case(lang)) {
            return hit;
        }
    }
    fallback
}

/// The languages of an Accept-Language header, best first (at most 10).
pub fn accept_language(header: &str) -> Vec<String> {
    let mut tags: Vec<(f32, usize, String)> = header
        .split(',')
        .take(10)
        .enumerate()
        .filter_map(|(i, part)| {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next()?.trim();
            if tag.is_empty() || tag == "*" || tag.len() > 35 {
                return None;
            }
            let q = pieces
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            (q > 0.0).then(|| (q, i, tag.to_owned()))
        })
        .collect();
    tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    tags.into_iter().map(|(_, _, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared table of a locale holds what `all` gives for it, regions and unknown
    /// languages included.
    #[test]
    fn the_shared_table_is_every_word_of_the_locale() {
        for locale in ["en", "de", "de-AT", "fr-CA", "es", "ar", "pt-BR", "", "zz"] {
            let table = table(locale);
            for (key, word) in all(locale) {
                assert_eq!(
                    table
                        .get_attr(key)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned)),
                    Some(word.to_owned()),
                    "{locale}: {key}"
                );
            }
            assert_eq!(table.len(), Some(KEYS.len()), "{locale}");
        }
    }

    #[test]
    fn every_locale_has_every_word() {
        for locale in LOCALES {
            for key in KEYS {
                assert!(!word(locale, key).is_empty(), "{locale}.{key}");
            }
        }
        assert_eq!(word("de-AT", "submit"), "Weiter");
        assert_eq!(word("xx", "submit"), "Continue");
    }

    #[test]
    fn negotiates_by_tag_then_language() {
        let prefs = accept_language("fr-CH, de;q=0.9, en;q=0.8");
        assert_eq!(prefs, ["fr-CH", "de", "en"]);
        assert_eq!(negotiate(&prefs, &["en", "de"], "en"), "de");
        assert_eq!(negotiate(&prefs, &["en", "fr"], "en"), "fr");
        assert_eq!(
            negotiate(&["pt-BR".into()], &["en", "pt-BR"], "en"),
            "pt-BR"
        );
        assert_eq!(negotiate(&["ja".into()], &["en", "de"], "en"), "en");
        assert_eq!(accept_language("en;q=0, de"), ["de"]);
    }
}
