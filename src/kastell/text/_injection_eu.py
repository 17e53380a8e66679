# ruff: noqa: E501 - regex tables read better unwrapped
"""Injection rules for more EU languages (private; ``injection`` compiles them with the rest).

Two phrasing families per language, written for the folded text (``fold``: lower case, accents
stripped, Greek final sigma as ``σ``; letters without a decomposition such as Polish ``ł``,
Danish ``ø``/``æ`` stay): an instruction to disregard earlier instructions, and a request to
reveal the hidden prompt. Languages: nl, pl, pt, sv, da, cs, sk, hu, ro, el, fi, hr, sl, et,
lv, lt, bg.
"""

from __future__ import annotations

_W = r"(?:\w+ ){0,3}"  # up to three filler words

INJECTION_MORE: list[str] = [
    # nl
    rf"\b(?:negeer|vergeet|veronachtzaam) {_W}(?:vorige|eerdere|voorgaande|bovenstaande|alle|je|jouw|uw|de) {_W}(?:instructies|regels|aanwijzingen|opdrachten|richtlijnen)\b",
    r"\b(?:toon|geef|herhaal|onthul|laat|print) (?:\w+ ){0,4}(?:systeemprompt|systeem prompt|systeeminstructies|(?:geheime|verborgen|oorspronkelijke|eerste) instructies)",
    # pl
    rf"\b(?:zignoruj|ignoruj|zapomnij|pomin|nie zwracaj uwagi na) {_W}(?:wszystkie|wszystkich|poprzednie|poprzednich|wczesniejsze|wczesniejszych|swoje|twoje|powyzsze|powyzszych) {_W}(?:instrukcj\w*|polece\w*|zasad\w*|regu[łl]\w*)",
    r"\b(?:pokaz|ujawnij|wypisz|powtorz|podaj|wyswietl|zdradz) (?:\w+ ){0,4}(?:prompt systemowy|systemowy prompt|instrukcje systemowe|(?:ukryte|tajne|poczatkowe|oryginalne) instrukcje)",
    # pt
    rf"\b(?:ignore|ignora|ignorar|esqueca|esquece|esquecer|desconsidere|desconsidera|despreze) {_W}(?:as |todas as |suas |tuas )?{_W}(?:instrucoes|regras|diretrizes|orientacoes|indicacoes)\b",
    r"\b(?:revele|revela|mostre|mostra|repita|repete|imprima|diga|exiba) (?:\w+ ){0,4}(?:prompt d[oe] sistema|instrucoes (?:iniciais|ocultas|do sistema|secretas|originais))",
    # sv
    rf"\b(?:ignorera|glom|strunta i|bortse fran) {_W}(?:alla|tidigare|ovanstaende|foregaende|dina|era|de) {_W}(?:instruktioner\w*|regler\w*|anvisningar\w*|direktiv\w*|riktlinjer\w*)",
    r"\b(?:visa|avsloja|upprepa|skriv ut|beratta|ge mig) (?:\w+ ){0,4}(?:systemprompt\w*|systeminstruktioner\w*|(?:dolda|hemliga|ursprungliga) instruktioner\w*)",
    # da
    rf"\b(?:ignorer|glem|se bort fra) {_W}(?:alle|tidligere|ovenstaende|foregaende|dine|jeres|de) {_W}(?:instruktioner\w*|regler\w*|anvisninger\w*|retningslinjer\w*)",
    r"\b(?:vis|afsl[oø]r|gentag|udskriv|fort(?:ae|æ)l) (?:\w+ ){0,4}(?:systemprompt\w*|systeminstruktioner\w*|(?:skjulte|hemmelige|oprindelige) instruktioner\w*)",
    # cs
    rf"\b(?:ignoruj|ignorujte|zapomen|zapomente|nedbej) {_W}(?:vsechny|vsechna|predchozi|dosavadni|sve|tve|vase) {_W}(?:instrukce|instrukci|pokyny|pokynu|pravidla|prikazy)\b",
    r"\b(?:ukaz|ukazte|zobraz|prozrad|vypis|zopakuj|odhal) (?:\w+ ){0,4}(?:systemovy prompt|systemove (?:instrukce|pokyny)|(?:skryte|tajne|puvodni) (?:instrukce|pokyny))",
    # sk
    rf"\b(?:ignoruj|ignorujte|zabudni|zabudnite) {_W}(?:vsetky|predchadzajuce|predosle|svoje|tvoje|vase) {_W}(?:instrukcie|pokyny|pravidla|prikazy)\b",
    r"\b(?:ukaz|zobraz|prezrad|vypis|zopakuj|odhal) (?:\w+ ){0,4}(?:systemovy prompt|systemove (?:instrukcie|pokyny)|(?:skryte|tajne|povodne) (?:instrukcie|pokyny))",
    # hu
    rf"\b(?:hagyd figyelmen kivul|hagyja figyelmen kivul|felejtsd el|felejtse el|ignorald) {_W}(?:utasitas\w*|szabaly\w*|instrukci\w*)",
    r"\b(?:korabbi|elozo|osszes|eddigi) (?:\w+ ){0,2}(?:utasitas\w*|szabaly\w*) (?:\w+ ){0,2}(?:hagyd figyelmen kivul|felejtsd el|ignorald)",
    r"\b(?:mutasd meg|ird ki|ismeteld meg|aruld el|fedd fel) (?:\w+ ){0,4}(?:rendszerprompt\w*|rendszerutasitas\w*|(?:rejtett|titkos|eredeti) utasitas\w*)",
    # ro
    rf"\b(?:ignora|ignorati|uita|uitati|nu tine cont de) {_W}(?:instructiunile|instructiuni|regulile|indicatiile|directivele)\b",
    r"\b(?:arata|arata-mi|dezvaluie|repeta|afiseaza|spune-mi) (?:\w+ ){0,4}(?:promptul (?:de sistem|sistemului)|instructiunile (?:initiale|ascunse|de sistem|secrete))",
    # el (folded: accents stripped, final sigma as σ)
    rf"(?:^|\s)(?:αγνοησε|αγνοηστε|ξεχασε|ξεχαστε) {_W}(?:οδηγιεσ|οδηγιων|εντολεσ|κανονεσ)",
    r"(?:^|\s)(?:δειξε|δειξτε|αποκαλυψε|επαναλαβε|εμφανισε) (?:\S+ ){0,4}(?:system prompt|μηνυμα συστηματοσ|(?:κρυφεσ|μυστικεσ|αρχικεσ) οδηγιεσ)",
    # fi
    rf"\b(?:ohita|unohda|jata huomiotta|ala valita|ala noudata) {_W}(?:ohjeet|ohjeista|ohjeesi|ohjeita|saannot|saannoista|kaskyt)\b",
    r"\b(?:nayta|paljasta|toista|tulosta|kerro) (?:\w+ ){0,4}(?:jarjestelmakeho\w*|jarjestelmaohje\w*|(?:piilotetut|salaiset|alkuperaiset) ohjeet)",
    # hr
    rf"\b(?:zanemari|zanemarite|zaboravi|zaboravite|ignoriraj|ignorirajte) {_W}(?:sve|prethodne|ranije|svoje|tvoje|vase) {_W}(?:upute|uputa|instrukcije|naredbe|pravila)\b",
    r"\b(?:pokazi|otkrij|ponovi|ispisi|reci mi) (?:\w+ ){0,4}(?:sistemski prompt|sistemske upute|(?:skrivene|tajne|izvorne|pocetne) upute)",
    # sl
    rf"\b(?:prezri|prezrite|pozabi|pozabite|ignoriraj|ignorirajte) {_W}(?:vsa|vse|prejsnja|prejsnje|predhodna|svoja|tvoja) {_W}(?:navodila|ukaze|pravila|instrukcije)\b",
    r"\b(?:pokazi|razkrij|ponovi|izpisi|povej mi) (?:\w+ ){0,4}(?:sistemski poziv|sistemska navodila|(?:skrita|tajna|izvirna|zacetna) navodila)",
    # et
    rf"\b(?:ignoreeri|unusta|eira) {_W}(?:juhiseid|juhised|reegleid|reeglid|korraldusi)\b",
    r"\b(?:naita|avalda|korda|kirjuta valja) (?:\w+ ){0,4}(?:susteemiviip\w*|susteemi juhised|(?:peidetud|salajased|algsed) juhised)",
    # lv
    rf"\b(?:ignore|ignorejiet|aizmirsti|aizmirstiet) {_W}(?:instrukcijas|noradijumus|noteikumus)\b",
    r"\b(?:paradi|atklaj|atkarto|izdruka) (?:\w+ ){0,4}(?:sistemas uzvedn\w*|sistemas instrukcijas|(?:slepenas|sakotnejas) instrukcijas)",
    # lt
    rf"\b(?:ignoruok|ignoruokite|pamirsk|pamirskite) {_W}(?:instrukcijas|nurodymus|taisykles)\b",
    r"\b(?:parodyk|atskleisk|pakartok|isvesk) (?:\w+ ){0,4}(?:sistemos (?:raginima|instrukcijas)|(?:slaptas|pradines) instrukcijas)",
    # bg (folded: й reads as и)
    rf"(?:^|\s)(?:игнорираи|игнорираите|забрави|забравете) {_W}(?:инструкции|инструкциите|указания|указанията|правила|правилата)",
    r"(?:^|\s)(?:покажи|разкрии|повтори|изведи) (?:\S+ ){0,4}(?:системния промпт|системни(?:те)? инструкции|(?:скрити|таини|първоначални)(?:те)? инструкции)",
]
"""Patterns of the ``injection`` family for the languages above."""
