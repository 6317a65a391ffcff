"""Student submissions for convprop check, as source text the tests write to files."""
