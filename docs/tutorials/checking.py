# %% [markdown]
# # checking

# %%
print(1 + 1)
