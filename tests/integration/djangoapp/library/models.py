"""Authors, their profiles (one-to-one) and their books (many-to-one)."""

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)


class AuthorProfile(models.Model):
    author = models.OneToOneField(Author, on_delete=models.CASCADE, related_name="profile")
    bio = models.TextField()


class Book(models.Model):
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    title = models.CharField(max_length=200)
