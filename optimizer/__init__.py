"""Profile -> variants -> verify -> measure: faster versions of a user's function, offered only when proven."""
