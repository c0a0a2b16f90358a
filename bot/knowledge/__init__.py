"""The knowledge base: versioned bilingual articles, a hybrid index, and answers from it."""
