"""Reviews: the reviewer's queue, reads, confirmed labels, adjudication and agreement.

Kept as its own package inside `cases` (reviews are rows of the cases app) so that the cases
modules of the platform stay untouched."""
