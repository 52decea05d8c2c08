/* The agent's workspace (loaded with an open conversation and on compose, not with the inbox):
   saved replies and their merge fields, who else is in the conversation. */
