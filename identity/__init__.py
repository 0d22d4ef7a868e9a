"""User accounts and identity profiles (face templates, ID photos). Knows nothing of exams."""
