"""Messages the engine itself shows, marked for extraction (the flows' own text is in YAML)."""

from flows.i18n import N_

# TRANSLATORS: first line of a screen when the caller typed something that is not an option.
HINT = N_("Choose a number below.")
# TRANSLATORS: menu line "98 More": shows the next page of a long list. Keep it very short.
MORE = N_("More")
# TRANSLATORS: menu line "0 Back": goes to the previous screen. Keep it very short.
BACK = N_("Back")
# TRANSLATORS: last option of the first list of places, when the caller does not know where.
DONT_KNOW_PLACE = N_("Don't know")
# TRANSLATORS: option under a list of places: the place is in %(place)s but not in the list.
NOT_SURE_IN = N_("Not sure / elsewhere in %(place)s")
# TRANSLATORS: shown when anything fails; the caller's session ends. Keep it short.
FAILURE = N_("Sorry, something went wrong. Please dial again later.")
