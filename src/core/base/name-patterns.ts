// The name rules of Kubernetes (k8s.io/apimachinery/pkg/util/validation) that egress-mtls
// checks, each named after its Kubernetes rule: a RegExp, or a JSON Schema pattern string
// (`..._FORMAT`) for the configuration's schema, whose maxLength bounds the length.

/** dns1123LabelFmt: lowercase letters, digits and '-', starting and ending with a letter or digit. */
const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?'
/** dns1123LabelFmt of at most 63 characters. */
const LABEL_63 = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?'

/** RFC 1123 label (IsDNS1123Label): at most 63 characters. Namespace and Service names. */
export const DNS1123_LABEL = new RegExp(`^${LABEL_63}$`)

/** RFC 1123 label without its length limit (dns1123LabelFmt): the schema's maxLength, 63 or less, bounds it. */
export const DNS1123_LABEL_FORMAT = `^${LABEL}$`

/** RFC 1123 subdomain (IsDNS1123Subdomain): labels joined by '.', at most 253 characters, a label of any length. Most object names. */
export const DNS1123_SUBDOMAIN = new RegExp(`^(?=.{1,253}$)${LABEL}(\\.${LABEL})*$`)

/**
 * An RFC 1123 host name: an RFC 1123 subdomain whose every label is an RFC 1123 label (at
 * most 63 characters), no wildcard. Stricter than IsDNS1123Subdomain, which bounds only the total.
 */
export const DNS1123_HOSTNAME_FORMAT = `^(?=.{1,253}$)${LABEL_63}(\\.${LABEL_63})*$`

/**
 * The characters and ends of an RFC 1123 subdomain, with neither its per-label rule nor its
 * length limit: looser than IsDNS1123Subdomain (`a..b` passes; the API server then finds nothing).
 */
export const DNS1123_SUBDOMAIN_CHARACTERS = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/

/**
 * A label value (IsValidLabelValue) that is not empty: at most 63 letters, digits, '-', '_'
 * and '.', starting and ending with a letter or digit.
 */
export const LABEL_VALUE = /^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/
